//! The `vgg-train` binary: parse the command line, run it, print errors on one line.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = vgg_train::cli::Cli::parse();
    match vgg_train::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", vgg_train::cli::one_line(&format!("{err:#}")));
            vgg_train::cli::exit_code(&err)
        }
    }
}
