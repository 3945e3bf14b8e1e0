//! The integration tests, as one test binary: each module was its own binary once, and each
//! linked all of burn (13 links a build). `kernel_coverage.rs` (which counts kernel calls
//! process-wide), `fuzz_readers.rs` (which limits the process's address space) and `wgpu.rs`
//! (behind its feature) stay binaries of their own.

#[path = "../util/mod.rs"]
mod util;

mod architecture;
mod bad_input;
mod cli;
mod committed_reports;
mod eval;
mod export;
mod reliability;
mod report;
mod report_rows;
mod sweep;
mod tensorboard;
mod torchvision;
mod train_devices;
mod train_e2e;
mod train_image_folder;
mod training_math;
