//! The command line: clap definitions and a dispatcher that hands each subcommand to its one
//! function in [`commands`]. Only this module (and `main`) sees raw flags; everything below
//! receives a resolved [`Experiment`].

mod commands;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::config::Experiment;
use crate::error::{ConfigError, DataError};
use crate::evaluate::EvalError;
use crate::export::ExportError;
use crate::predict::PredictError;
use crate::results::ResultsError;
use crate::train::TrainError;
use crate::util::one_line;

/// Train and compare the VGG configurations of Simonyan & Zisserman (ICLR 2015).
///
/// `vgg-train --config F` is the same as `vgg-train train --config F`.
#[derive(Debug, Parser)]
#[command(name = "vgg-train", version, args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// What to do (default: train).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Options of the default `train` command.
    #[command(flatten)]
    pub train: TrainArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train one experiment (resumes an interrupted run of the same config).
    Train(TrainArgs),
    /// Print the network's layer table: output shapes, parameters, MACs, receptive fields.
    Summary(ConfigArgs),
    /// Print the resolved experiment as TOML (defaults and --set applied).
    Config(ConfigArgs),
    /// Expand a sweep manifest (experiments/*.toml) into one tab-separated line per run:
    /// name, run directory, config, overrides. Used by scripts/sweep.sh.
    Plan {
        /// The manifest.
        experiment: PathBuf,
    },
    /// Measure training-step and inference images/s of the config's network on its device
    /// (synthetic data; warm-up, then timed steps) and print CSV rows.
    Bench {
        /// Config and overrides.
        #[command(flatten)]
        config: ConfigArgs,
        /// Benchmark every configuration (A, A-LRN, B, B-5x5, C, D, E) instead of model.arch.
        #[arg(long)]
        all_archs: bool,
        /// Untimed warm-up steps.
        #[arg(long, default_value_t = 3)]
        warmup: usize,
        /// Timed steps (at least one: a rate needs a timed step).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
        steps: u32,
        /// Also write the rows to this CSV file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Check a GPU backend against flex on this machine: the same small VGGs (A, A-BN, A-LRN,
    /// C-BN, B-5x5), weights and batch on both; logits, loss and every parameter after one SGD
    /// step must agree to 1e-3 relative. Prints the adapters and a pass/fail table; exit status
    /// 1 when a network differs. Needs no data and no cargo.
    CheckDevice {
        /// The device to check (`wgpu`, `cuda:0`, `tch:cuda:0`; see `run.device`).
        #[arg(long, default_value = "wgpu")]
        device: String,
        /// Also write the rows to this CSV file.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Measure this CPU's attainable f32 peak (FMAs on the widest vectors, on every thread):
    /// the denominator of the GFLOP/s efficiencies in the README.
    BenchPeak {
        /// Seconds to measure (0.1 to 600).
        #[arg(long, default_value_t = 2.0, value_parser = measuring_seconds)]
        seconds: f64,
        /// Instruction set of the FMA loop (default: the widest this CPU runs).
        #[arg(long, value_parser = ["avx512f", "avx2", "scalar"])]
        isa: Option<String>,
    },
    /// Measure the data pipeline: images/s of decode, rescale to S, random crop, flip and
    /// normalise on the JPEGs under DIR (scripts/bench-data.sh compares with torchvision).
    BenchData {
        /// Directory searched recursively for images.
        dir: PathBuf,
        /// Worker threads.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1024))]
        threads: u32,
        /// Shorter side S before the crop.
        #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=4096))]
        scale: u32,
        /// Crop side (at most --scale).
        #[arg(long, default_value_t = 224, value_parser = clap::value_parser!(u32).range(1..=4096))]
        crop: u32,
        /// Passes over the files.
        #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=1000))]
        repeat: u32,
    },
    /// Evaluate a trained run (its model.bpk) or a weights file with the config's `[eval]`
    /// protocols (center, dense, multi-scale, multi-crop, multi-crop+dense) on the validation
    /// split, and add one row per protocol to the run's results.csv.
    Eval {
        /// Config and overrides (e.g. `--set 'eval.protocols=["dense"]'`).
        #[command(flatten)]
        config: ConfigArgs,
        /// Weights: torchvision's state dict (`vgg16-397923af.pth`, …) or a burnpack file;
        /// default: the run's model.bpk.
        #[arg(long, value_name = "FILE")]
        weights: Option<PathBuf>,
    },
    /// Print the five most probable classes of each image as one JSON line
    /// (`{"path": ..., "top5": [[class, probability], ...]}`), preprocessed as torchvision's
    /// weights expect (shorter side to 256, centre crop 224, ImageNet mean and std).
    Predict {
        /// Config and overrides (the network and `[data]`'s preprocessing).
        #[command(flatten)]
        config: ConfigArgs,
        /// Weights: torchvision's state dict or a burnpack file; default: the run's model.bpk.
        #[arg(long, value_name = "FILE")]
        weights: Option<PathBuf>,
        /// Image files (JPEG or PNG, decoded by content).
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<PathBuf>,
    },
    /// Write the network's weights for PyTorch: a safetensors file under torchvision's names
    /// (`torchvision.models.vgg16()` … load it with `strict=True`) and a JSON description
    /// beside it that rebuilds any configuration (scripts/export_check.py).
    Export {
        /// Config and overrides (the network).
        #[command(flatten)]
        config: ConfigArgs,
        /// Weights: a burnpack file (a run's `model.bpk`), torchvision's `.pth`, or an exported
        /// `.safetensors`; default: the run's model.bpk.
        #[arg(long, value_name = "FILE")]
        weights: Option<PathBuf>,
        /// The safetensors file to write (the JSON goes beside it).
        #[arg(long, value_name = "FILE.safetensors")]
        out: PathBuf,
    },
    /// Write TensorBoard event files (`<run>/tensorboard/`) for the runs under DIR from their
    /// CSVs: for runs made before vgg-train wrote them, or with `run.tensorboard = false`.
    /// Values already there are kept, none is written twice. Then `tensorboard --logdir DIR`.
    Tensorboard {
        /// Directory searched recursively for run directories.
        dir: PathBuf,
    },
    /// Turn the runs under DIR into report.md, report.csv and plots (PNG and SVG): a
    /// Table-3-style table with mean ± std over seeds and the paper's comparisons.
    Report {
        /// Directory searched recursively for run directories.
        dir: PathBuf,
        /// Where to write the report (default: DIR).
        #[arg(long)]
        out: Option<PathBuf>,
        /// An ablation arm: runs under this directory are compared with the same
        /// configurations under DIR (ablation minus main, Welch and paired by seed).
        #[arg(long, value_name = "ARM_DIR")]
        ablation: Option<PathBuf>,
    },
}

/// A config file and overrides.
#[derive(Debug, Args, Clone, Default)]
pub struct ConfigArgs {
    /// Experiment file (TOML).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override a config key, e.g. `--set train.epochs=2` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
}

/// Options of `train`.
#[derive(Debug, Args, Clone, Default)]
pub struct TrainArgs {
    /// Config and overrides.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Move an existing run directory aside (to `<dir>.old-<time>`) and start over.
    #[arg(long)]
    pub fresh: bool,
    /// One plain line per epoch even on a terminal (no TUI).
    #[arg(long)]
    pub plain: bool,
}

/// Runs the parsed command line: one call per subcommand.
pub fn run(cli: Cli) -> Result<ExitCode> {
    install_panic_hook();
    // The CLI owns the terminal: the library's lines come through its console.
    crate::console::install(Box::new(crate::console::Terminal));
    use commands as c;
    match cli.command {
        None => c::train(&cli.train),
        Some(Command::Train(args)) => c::train(&args),
        Some(Command::Summary(args)) => c::summary(&args),
        Some(Command::Config(args)) => c::config(&args),
        Some(Command::Plan { experiment }) => c::plan(&experiment),
        Some(Command::Bench {
            config,
            all_archs,
            warmup,
            steps,
            out,
        }) => c::bench(config, all_archs, warmup, steps as usize, out),
        Some(Command::CheckDevice { device, out }) => c::check_device(&device, out.as_deref()),
        Some(Command::BenchPeak { seconds, isa }) => c::bench_peak(seconds, isa.as_deref()),
        Some(Command::BenchData {
            dir,
            threads,
            scale,
            crop,
            repeat,
        }) => c::bench_data(dir, threads, scale, crop, repeat),
        Some(Command::Eval { config, weights }) => c::eval(config, weights),
        Some(Command::Export {
            config,
            weights,
            out,
        }) => c::export(config, weights, out),
        Some(Command::Predict {
            config,
            weights,
            images,
        }) => c::predict(config, weights, images),
        Some(Command::Tensorboard { dir }) => c::tensorboard(dir),
        Some(Command::Report { dir, out, ablation }) => c::report(dir, out, ablation),
    }
}

/// The experiment of `--config` with its `--set` overrides, resolved and validated.
fn load(args: &ConfigArgs) -> Result<Experiment> {
    let path = args
        .config
        .as_ref()
        .ok_or_else(|| anyhow::Error::new(ConfigError::NoConfigFile))?;
    Ok(Experiment::load(path, &args.overrides)?)
}

/// Prints `text`; a closed pipe (`| head`) is not an error.
fn print_stdout(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// Exit status for an error: the first error in its chain that knows its status decides (2
/// for what the user can fix: usage, config, data, a run directory; 1 for a failing disk or
/// device); 1 for the rest.
pub fn exit_code(err: &anyhow::Error) -> ExitCode {
    /// `of(cause)` when the cause is an `E`.
    fn status<E: std::error::Error + 'static>(
        cause: &(dyn std::error::Error + 'static),
        of: fn(&E) -> u8,
    ) -> Option<u8> {
        cause.downcast_ref::<E>().map(of)
    }
    let status = err.chain().find_map(|c| {
        if c.is::<clap::Error>() {
            return Some(2);
        }
        status(c, ConfigError::exit_status)
            .or_else(|| status(c, DataError::exit_status))
            .or_else(|| status(c, TrainError::exit_status))
            .or_else(|| status(c, EvalError::exit_status))
            .or_else(|| status(c, PredictError::exit_status))
            .or_else(|| status(c, ResultsError::exit_status))
            .or_else(|| status(c, ExportError::exit_status))
    });
    ExitCode::from(status.unwrap_or(1))
}

/// `--seconds` of `bench-peak`: a finite number of seconds in [0.1, 600] (infinity would
/// calibrate the loop to 2^42 rounds, hours of work).
fn measuring_seconds(text: &str) -> Result<f64, SecondsOutOfRange> {
    match text.parse::<f64>() {
        Ok(s) if (0.1..=600.0).contains(&s) => Ok(s),
        _ => Err(SecondsOutOfRange(text.to_string())),
    }
}

/// A `--seconds` that is not a number of seconds in [0.1, 600] (what the user typed).
#[derive(Debug, thiserror::Error)]
#[error("{0} is not a number of seconds in [0.1, 600]")]
struct SecondsOutOfRange(String);

/// A bug must not greet the user with a backtrace: print one line and exit with status 101,
/// whichever thread panicked (a panic in the batch producer or a rayon task must not leave the
/// process running half-dead). Every output is written atomically, so exiting loses nothing
/// already written.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "error: internal error: {}{at}; please report it with the command you ran",
            one_line(&msg)
        );
        std::process::exit(101);
    }));
}
