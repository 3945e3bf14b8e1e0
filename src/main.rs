//! The `vgg-train` binary: parse the command line, run it, print errors on one line.

/// burn allocates a fresh buffer for every op's output, megabytes at a time; the system
/// allocator hands such blocks back to the OS when they are freed and faults them in again on
/// the next step. mimalloc, told never to purge ([`keep_freed_memory`]), reuses them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3's `mimalloc.h` (libmimalloc-sys names no constant for
/// it); -1 means "never purge".
const MI_OPTION_PURGE_DELAY: std::os::raw::c_int = 15;

/// Keeps freed memory mapped for reuse: a training step frees and allocates the same large
/// buffers again, and returning them to the OS costs a page fault per 4 KiB each time (~25,000
/// per step of workload (b), 8 % of its time).
fn keep_freed_memory() {
    // SAFETY: sets a process-wide option before any other thread exists.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = match vgg_train::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // clap's own message on one line (with the arguments it names, which follow on the
            // next lines), without its usage block, plus where to look.
            let text = e.to_string();
            let body = text.split("\n\nUsage:").next().unwrap_or(&text);
            let body = body
                .split("\n\nFor more information")
                .next()
                .unwrap_or(body);
            let body = vgg_train::util::one_line(body.trim().trim_start_matches("error: "));
            eprintln!("error: {body} (see vgg-train --help)");
            return ExitCode::from(2);
        }
    };
    match vgg_train::cli::run(cli) {
        Ok(code) => code,
        Err(err) => {
            let text = vgg_train::util::one_line(&format!("{err:#}"));
            // clap's errors carry their own prefix.
            eprintln!("error: {}", text.trim_start_matches("error: "));
            vgg_train::cli::exit_code(&err)
        }
    }
}
