//! The command line: clap definitions and the dispatch to the library. Only this module (and
//! `main`) sees raw flags; everything below receives a resolved [`Experiment`].

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::config::Experiment;
use crate::error::{ConfigError, DataError, TrainError};
use crate::model::{VggConfig, summary};
use crate::train::{Outcome, TrainOptions};
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
        /// Timed steps.
        #[arg(long, default_value_t = 10)]
        steps: usize,
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
        /// Seconds to measure.
        #[arg(long, default_value_t = 2.0)]
        seconds: f64,
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

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<ExitCode> {
    install_panic_hook();
    match cli.command {
        None => train(&cli.train),
        Some(Command::Train(args)) => train(&args),
        Some(Command::Summary(args)) => {
            let exp = load(&args)?;
            let (channels, classes) = data_shape(&exp);
            let vgg = VggConfig::from_model(&exp.model, channels, classes);
            print_stdout(&summary::render(&vgg, exp.data.image_size));
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Config(args)) => {
            print_stdout(&load(&args)?.to_toml());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Plan { experiment }) => {
            let manifest = crate::sweep::Manifest::load(&experiment)?;
            let lines: Vec<String> = manifest.plan()?.iter().map(|r| r.to_line()).collect();
            print_stdout(&(lines.join("\n") + "\n"));
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Bench {
            config,
            all_archs,
            warmup,
            steps,
            out,
        }) => {
            let exp = load(&config)?;
            let archs: Vec<Option<crate::arch::Arch>> = if all_archs {
                crate::arch::Arch::ALL.iter().map(|a| Some(*a)).collect()
            } else {
                vec![None]
            };
            let opts = crate::bench::BenchOptions {
                warmup,
                steps: steps.max(1),
            };
            let mut rows = Vec::new();
            for arch in archs {
                let row = crate::util::on_compute_pool(|| crate::bench::bench(&exp, arch, opts))
                    .map_err(anyhow::Error::msg)?;
                eprintln!(
                    "{} width {} {}x{} batch {} on {}: train {:.1} img/s, inference {:.1} img/s",
                    row.arch,
                    row.width,
                    row.image_size,
                    row.image_size,
                    row.batch,
                    row.device,
                    row.train_img_s,
                    row.infer_img_s
                );
                rows.push(row);
            }
            let csv = crate::results::to_csv(&rows)?;
            print_stdout(&String::from_utf8_lossy(&csv));
            if let Some(path) = out {
                crate::results::write_atomic(&path, &csv)
                    .with_context(|| format!("writing {}", path.display()))?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::CheckDevice { device, out }) => check_device(&device, out.as_deref()),
        Some(Command::BenchPeak { seconds }) => {
            let peak = crate::bench::peak::measure(seconds.max(0.1));
            let csv = crate::results::to_csv(std::slice::from_ref(&peak))?;
            print_stdout(&String::from_utf8_lossy(&csv));
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::BenchData {
            dir,
            threads,
            scale,
            crop,
            repeat,
        }) => {
            if crop > scale {
                return Err(clap::Error::raw(
                    clap::error::ErrorKind::ValueValidation,
                    format!("--crop {crop} is larger than --scale {scale}: the crop is cut from the image rescaled to S; give --crop <= --scale"),
                )
                .into());
            }
            let opts = crate::bench::data::DataBenchOptions {
                threads: threads as usize,
                scale: scale as usize,
                crop: crop as usize,
                repeat: repeat as usize,
            };
            let row = crate::bench::data::bench_data(&dir, opts)?;
            let s = crate::bench::data::stages(&dir, opts)?;
            eprintln!(
                "per image on one thread: decode {:.2} ms, resize {:.2} ms, crop+flip+normalise {:.2} ms",
                s.decode_ms, s.resize_ms, s.crop_normalize_ms
            );
            print_stdout(&String::from_utf8_lossy(&crate::results::to_csv(&[row])?));
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Eval { config, weights }) => {
            let exp = load(&config)?;
            let outcome = crate::util::on_compute_pool(|| {
                crate::eval::command::eval_run(&exp, weights.as_deref())
            })
            .with_context(|| format!("evaluating {}", exp.run_dir().display()))?;
            println!(
                "{}: {} images, {:.1} s, weights {}",
                exp.name,
                outcome.images,
                outcome.seconds,
                outcome.weights.display()
            );
            println!(
                "{:<18} {:<14} {:>10} {:>10}",
                "protocol", "scales", "top-1 err", "top-5 err"
            );
            for r in &outcome.rows {
                println!(
                    "{:<18} {:<14} {:>9.2}% {:>10}",
                    r.protocol,
                    r.scales,
                    r.top1_err,
                    r.top5_err
                        .map(|v| format!("{v:.2}%"))
                        .unwrap_or_else(|| "-".into())
                );
            }
            println!("results: {}", outcome.results.display());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Export {
            config,
            weights,
            out,
        }) => {
            let exp = load(&config)?;
            let done = crate::export::export(&exp, weights.as_deref(), &out)?;
            println!(
                "wrote {} ({} tensors from {}) and {}",
                done.safetensors.display(),
                done.tensors,
                done.weights.display(),
                done.json.display()
            );
            match done.torchvision {
                Some(name) => println!(
                    "PyTorch: torchvision.models.{name}(num_classes=N).load_state_dict(safetensors.torch.load_file(...), strict=True)"
                ),
                None => println!(
                    "PyTorch: torchvision has no class for this network; scripts/export_check.py rebuilds it from the JSON"
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Predict {
            config,
            weights,
            images,
        }) => {
            let exp = load(&config)?;
            let results = crate::predict::predict(&exp, weights.as_deref(), &images)?;
            let mut failed = 0;
            for result in results {
                match result {
                    Ok(p) => print_stdout(&(serde_json::to_string(&p)? + "\n")),
                    Err(e) => {
                        failed += 1;
                        eprintln!("error: {}", one_line(&e.to_string()));
                    }
                }
            }
            Ok(if failed > 0 {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            })
        }
        Some(Command::Tensorboard { dir }) => {
            let runs = crate::report::collect(&dir)?;
            if !runs.runs.iter().any(|r| r.primary) {
                return Err(crate::error::ReportError::NoRuns { dir }.into());
            }
            let mut seen = std::collections::BTreeSet::new();
            for run in runs.runs.iter().filter(|r| r.primary) {
                if !seen.insert(run.dir.clone()) {
                    continue;
                }
                let epochs = crate::train::events::backfill(&run.dir)
                    .with_context(|| format!("writing events for {}", run.dir.display()))?;
                println!("{}: {epochs} epochs", run.dir.display());
            }
            println!("tensorboard --logdir {}", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Report { dir, out, ablation }) => {
            let out = out.unwrap_or_else(|| dir.clone());
            let written = crate::report::write_report(&dir, &out, ablation.as_deref())?;
            for p in written {
                println!("wrote {}", p.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn load(args: &ConfigArgs) -> Result<Experiment> {
    let path = args
        .config
        .as_ref()
        .ok_or_else(|| anyhow::Error::new(ConfigError::NoConfigFile))?;
    Ok(Experiment::load(path, &args.overrides)?)
}

/// Input channels and classes implied by the data section, without reading the data.
fn data_shape(exp: &Experiment) -> (usize, usize) {
    (exp.data.channels, exp.data.dataset.standard_classes())
}

/// `check-device`: the adapters, then the comparison table; exit status 1 when a row fails.
fn check_device(device: &str, out: Option<&std::path::Path>) -> Result<ExitCode> {
    use crate::device::{DeviceSpec, adapter_name, wgpu_adapters};
    let spec =
        DeviceSpec::parse(device).map_err(|e| anyhow::anyhow!("--device {device:?}: {e}"))?;
    let dev = spec.device().map_err(anyhow::Error::msg)?;
    for a in wgpu_adapters() {
        println!("wgpu adapter: {a}");
    }
    let adapter = adapter_name(spec, &dev);
    println!("checking {} ({adapter}) against flex", spec.name());
    let rows = crate::util::on_compute_pool(|| {
        crate::device_check::compare(&burn::tensor::Device::flex(), &dev, &spec.name(), &adapter)
    })
    .map_err(anyhow::Error::msg)?;
    print_stdout(&crate::device_check::render(&rows));
    if let Some(path) = out {
        crate::results::write_atomic(path, &crate::results::to_csv(&rows)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let failed = rows.iter().filter(|r| !r.pass).count();
    if failed > 0 {
        eprintln!(
            "error: {failed} of {} networks differ from flex beyond {} relative on {} ({adapter})",
            rows.len(),
            crate::device_check::TOLERANCE,
            spec.name()
        );
        return Ok(ExitCode::from(1));
    }
    println!(
        "PASS: {} networks agree with flex to {} relative on {} ({adapter})",
        rows.len(),
        crate::device_check::TOLERANCE,
        spec.name()
    );
    Ok(ExitCode::SUCCESS)
}

fn train(args: &TrainArgs) -> Result<ExitCode> {
    let exp = load(&args.config)?;
    let opts = TrainOptions {
        fresh: args.fresh,
        plain: args.plain,
    };
    let outcome = crate::util::on_compute_pool(|| crate::train::train(&exp, &opts))
        .with_context(|| format!("run {}", exp.run_dir().display()))?;
    let (row, note) = match outcome {
        Outcome::Trained(row) => (row, ""),
        Outcome::AlreadyFinished(row) => (row, " (already finished; --fresh to retrain)"),
    };
    let pct = |v: Option<f64>| v.map(|v| format!("{v:.2}%")).unwrap_or_else(|| "-".into());
    println!(
        "{}: {} on {}: test top-1 error {:.2}%  top-5 error {}  (model of epoch {} of {}, chosen by validation top-1 error {}; {}, {:.0} s){note}",
        exp.name,
        row.arch,
        row.dataset,
        row.top1_err,
        pct(row.top5_err),
        row.best_epoch,
        row.epochs,
        pct(row.val_top1_err),
        row.status,
        row.wall_seconds
    );
    println!("results: {}", exp.run_dir().join("results.csv").display());
    Ok(if row.status == "diverged" {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints `text`; a closed pipe (`| head`) is not an error.
fn print_stdout(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// Exit status for an error: 2 for usage, config and data errors, 1 for the rest.
pub fn exit_code(err: &anyhow::Error) -> ExitCode {
    for cause in err.chain() {
        if cause.is::<ConfigError>()
            || cause.is::<DataError>()
            || cause.is::<clap::Error>()
            || matches!(
                cause.downcast_ref::<crate::error::ExportError>(),
                Some(crate::error::ExportError::Out { .. })
            )
        {
            return ExitCode::from(2);
        }
        if let Some(t) = cause.downcast_ref::<TrainError>() {
            return match t {
                TrainError::Io { .. } | TrainError::Training(_) => ExitCode::from(1),
                _ => ExitCode::from(2),
            };
        }
    }
    ExitCode::from(1)
}

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
