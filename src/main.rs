//! The `vgg-train` binary: parse the command line, run it, print errors on one line.

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

fn main() -> ExitCode {
    let cli = match vgg_train::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's own message, first line only, plus where to look.
            let text = e.to_string();
            let first = text.lines().next().unwrap_or("bad command line");
            let first = first.trim_start_matches("error: ");
            eprintln!("error: {first} (see vgg-train --help)");
            return ExitCode::from(2);
        }
    };
    match vgg_train::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", vgg_train::cli::one_line(&format!("{err:#}")));
            vgg_train::cli::exit_code(&err)
        }
    }
}
