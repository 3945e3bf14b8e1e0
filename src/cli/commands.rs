//! One function per subcommand: each resolves its arguments, calls the library once and
//! formats the outcome for the terminal. No command calls another.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};

use super::{ConfigArgs, TrainArgs, load, print_stdout};
use crate::model::{VggConfig, summary};
use crate::results::RunPaths;
use crate::train::{Outcome, TrainOptions};
use crate::util::one_line;

/// `summary`: the network's layer table for the config.
pub fn summary(args: &ConfigArgs) -> Result<ExitCode> {
    let exp = load(args)?;
    let (channels, classes) = crate::data::shape(&exp);
    let vgg = VggConfig::from_model(&exp.model, channels, classes);
    print_stdout(&summary::render(&vgg, exp.data.image_size));
    Ok(ExitCode::SUCCESS)
}

/// `config`: the resolved experiment as TOML.
pub fn config(args: &ConfigArgs) -> Result<ExitCode> {
    print_stdout(&load(args)?.to_toml());
    Ok(ExitCode::SUCCESS)
}

/// `plan`: a sweep manifest's runs, one tab-separated line each.
pub fn plan(experiment: &Path) -> Result<ExitCode> {
    let manifest = crate::sweep::Manifest::load(experiment)?;
    let lines: Vec<String> = manifest.plan()?.iter().map(|r| r.to_line()).collect();
    print_stdout(&(lines.join("\n") + "\n"));
    Ok(ExitCode::SUCCESS)
}

/// `bench`: training and inference images/s of the config's network (or of every
/// configuration), as CSV rows.
pub fn bench(
    config: ConfigArgs,
    all_archs: bool,
    warmup: usize,
    steps: usize,
    out: Option<PathBuf>,
) -> Result<ExitCode> {
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
        let row = crate::util::on_compute_pool(|| crate::bench::bench(&exp, arch, opts))?;
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

/// `bench-peak`: this CPU's attainable f32 peak, as a CSV row.
pub fn bench_peak(seconds: f64, isa: Option<&str>) -> Result<ExitCode> {
    use crate::bench::peak::{Isa, measure};
    let isa = match isa {
        None => Isa::best(),
        Some(name) => Isa::parse(name).ok_or_else(|| anyhow::anyhow!("unknown --isa {name}"))?,
    };
    if !isa.supported() {
        eprintln!(
            "error: --isa {}: this CPU does not run it (it runs {})",
            isa.name(),
            Isa::best().name()
        );
        return Ok(ExitCode::from(2));
    }
    let peak = measure(seconds.max(0.1), isa);
    // The SGEMM runs on the widest instructions: it bounds only the widest loop.
    if isa == Isa::best() && peak.sgemm_gflop_s > peak.gflop_s {
        eprintln!(
            "warning: a {0}² SGEMM ran at {1:.1} GFLOP/s, faster than the FMA loop's {2:.1}: the loop does not reach this CPU's peak here (a busy or throttled machine?); rerun, or report it",
            crate::bench::peak::SGEMM_SIDE,
            peak.sgemm_gflop_s,
            peak.gflop_s
        );
    }
    let csv = crate::results::to_csv(std::slice::from_ref(&peak))?;
    print_stdout(&String::from_utf8_lossy(&csv));
    Ok(ExitCode::SUCCESS)
}

/// `bench-data`: images/s of the data pipeline on the images under `dir`.
pub fn bench_data(
    dir: PathBuf,
    threads: u32,
    scale: u32,
    crop: u32,
    repeat: u32,
) -> Result<ExitCode> {
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

/// `eval`: the config's test protocols on a run's (or a file's) weights, printed as a table
/// and added to `results.csv`.
pub fn eval(config: ConfigArgs, weights: Option<PathBuf>) -> Result<ExitCode> {
    let exp = load(&config)?;
    let outcome =
        crate::util::on_compute_pool(|| crate::evaluate::eval_run(&exp, weights.as_deref()))
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

/// `export`: the weights as safetensors under torchvision's names, with a JSON description.
pub fn export(config: ConfigArgs, weights: Option<PathBuf>, out: PathBuf) -> Result<ExitCode> {
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

/// `predict`: the top-5 classes of each image, one JSON line each; exit status 2 when an
/// image could not be read.
pub fn predict(
    config: ConfigArgs,
    weights: Option<PathBuf>,
    images: Vec<PathBuf>,
) -> Result<ExitCode> {
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

/// `tensorboard`: event files for the runs under `dir` that lack them.
pub fn tensorboard(dir: PathBuf) -> Result<ExitCode> {
    let runs = crate::report::collect(&dir)?;
    if !runs.runs.iter().any(|r| r.primary) {
        return Err(crate::report::ReportError::NoRuns { dir }.into());
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

/// `report`: the runs under `dir` (and an ablation arm) as tables and plots.
pub fn report(dir: PathBuf, out: Option<PathBuf>, ablation: Option<PathBuf>) -> Result<ExitCode> {
    let out = out.unwrap_or_else(|| dir.clone());
    let written = crate::report::write_report(&dir, &out, ablation.as_deref())?;
    for p in written {
        println!("wrote {}", p.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `check-device`: the adapters, then the comparison table; exit status 1 when a row fails.
pub fn check_device(device: &str, out: Option<&std::path::Path>) -> Result<ExitCode> {
    use crate::device::{DeviceSpec, adapter_name, wgpu_adapters};
    let spec =
        DeviceSpec::parse(device).map_err(|e| anyhow::anyhow!("--device {device:?}: {e}"))?;
    let dev = spec
        .device()
        .map_err(|e| anyhow::anyhow!("--device {device:?}: {e}"))?;
    for a in wgpu_adapters() {
        println!("wgpu adapter: {a}");
    }
    let adapter = adapter_name(spec, &dev);
    println!("checking {} ({adapter}) against flex", spec.name());
    let rows = crate::util::on_compute_pool(|| {
        crate::device_check::compare(&burn::tensor::Device::flex(), &dev, &spec.name(), &adapter)
    })?;
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

/// `train` (the default command): one experiment, resumed where a session stopped.
pub fn train(args: &TrainArgs) -> Result<ExitCode> {
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
    println!(
        "results: {}",
        RunPaths::new(exp.run_dir()).results().display()
    );
    Ok(if row.status == crate::results::Status::Diverged {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
