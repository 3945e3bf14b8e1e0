//! `vgg-train bench-data`: images/s of the training loader's per-image work (decode, rescale
//! the shorter side to S, random crop, random flip, normalise into the batch buffer) on a
//! directory of JPEGs, at a given number of threads. `scripts/bench-data.sh` runs it beside
//! the same work in PIL + torchvision.

use std::path::{Path, PathBuf};
use std::time::Instant;

use rayon::prelude::*;
use serde::Serialize;

use crate::augment::{self, Crop, Normalize};
use crate::config::Fit;
use crate::data::folder::{self, FolderImages};
use crate::data::{Images, Pipeline};
use crate::error::DataError;

/// What to measure.
#[derive(Debug, Clone, Copy)]
pub struct DataBenchOptions {
    /// Worker threads.
    pub threads: usize,
    /// Shorter side S before the crop.
    pub scale: usize,
    /// Crop side.
    pub crop: usize,
    /// Passes over the files.
    pub repeat: usize,
}

/// One CSV row (the same columns as `scripts/peer/bench_data_torchvision.py`).
#[derive(Debug, Clone, Serialize)]
pub struct DataBenchRow {
    /// `vgg-train`.
    pub tool: String,
    /// Worker threads.
    pub threads: usize,
    /// Images processed.
    pub images: usize,
    /// Wall time, seconds.
    pub seconds: f64,
    /// Images per second.
    pub img_s: f64,
    /// Images per second per thread.
    pub img_s_per_core: f64,
}

/// Milliseconds per image of each stage, measured on one thread.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stages {
    /// Read and decode.
    pub decode_ms: f64,
    /// Shorter side to S (only the crop's window).
    pub resize_ms: f64,
    /// Crop, flip, normalise into the planar buffer.
    pub crop_normalize_ms: f64,
}

/// Every regular, non-hidden file under `dir`, sorted.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).map_err(|e| DataError::io(&d, e))? {
            let path = entry.map_err(|e| DataError::io(&d, e))?.path();
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() {
                out.push(path);
            }
        }
    }
    out.sort();
    if out.is_empty() {
        return Err(DataError::format(
            dir,
            "no image files; make some with scripts/peer/make_bench_jpegs.py DIR 256",
        ));
    }
    Ok(out)
}

fn pipeline(opts: &DataBenchOptions) -> Pipeline {
    Pipeline {
        image_size: opts.crop,
        channels: 3,
        fit: Fit::Pad,
        eval_resize: opts.scale,
        train_scale: (opts.scale, opts.scale),
        color_shift: 0.0,
        crop_padding: 0,
        hflip: true,
        normalize: Normalize {
            mean: vec![0.485, 0.456, 0.406],
            std: vec![0.229, 0.224, 0.225],
        },
    }
}

/// Runs the training loader's per-image work over the files of `dir`, `repeat` times, on
/// `threads` threads (after an untimed warm-up pass over a few files).
pub fn bench_data(dir: &Path, opts: DataBenchOptions) -> Result<DataBenchRow, DataError> {
    let files = list_images(dir)?;
    let images = Images::Folder(FolderImages {
        items: files.iter().map(|p| (p.clone(), 0)).collect(),
    });
    let pipeline = pipeline(&opts);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads.max(1))
        .build()
        .map_err(|e| DataError::format(dir, format!("cannot start threads: {e}")))?;
    let per = 3 * opts.crop * opts.crop;
    let run = |indices: &[usize]| -> Result<(), DataError> {
        pool.install(|| {
            indices.par_iter().try_for_each_init(
                || vec![0f32; per],
                |buf, &i| {
                    let mut rng = crate::util::data_rng(i as u64);
                    pipeline.apply(&images, i % files.len(), true, &mut rng, buf)
                },
            )
        })
    };
    let warmup: Vec<usize> = (0..files.len().min(8)).collect();
    run(&warmup)?;
    let all: Vec<usize> = (0..files.len() * opts.repeat.max(1)).collect();
    let start = Instant::now();
    run(&all)?;
    let seconds = start.elapsed().as_secs_f64();
    let img_s = all.len() as f64 / seconds;
    Ok(DataBenchRow {
        tool: "vgg-train".into(),
        threads: opts.threads.max(1),
        images: all.len(),
        seconds,
        img_s,
        img_s_per_core: img_s / opts.threads.max(1) as f64,
    })
}

/// Times each stage of the per-image work on one thread, once over the files.
pub fn stages(dir: &Path, opts: DataBenchOptions) -> Result<Stages, DataError> {
    let files = list_images(dir)?;
    let norm = pipeline(&opts).normalize;
    let mut s = Stages::default();
    let mut buf = vec![0f32; 3 * opts.crop * opts.crop];
    let mut rng = crate::util::data_rng(0);
    for path in &files {
        let t = Instant::now();
        let rgb = folder::decode_rgb(path)?;
        let t1 = Instant::now();
        let (w, h) =
            augment::shorter_side_dims(rgb.width() as usize, rgb.height() as usize, opts.scale);
        let crop = Crop::random(h, w, opts.crop, 0, true, &mut rng);
        let window = augment::resize_shorter_crop(&rgb, opts.scale, crop.top, crop.left, opts.crop);
        let t2 = Instant::now();
        let at_origin = Crop {
            top: 0,
            left: 0,
            ..crop
        };
        augment::write_normalized_rgb(&window, at_origin, opts.crop, &norm, &[], &mut buf);
        let t3 = Instant::now();
        s.decode_ms += (t1 - t).as_secs_f64() * 1e3;
        s.resize_ms += (t2 - t1).as_secs_f64() * 1e3;
        s.crop_normalize_ms += (t3 - t2).as_secs_f64() * 1e3;
    }
    let n = files.len() as f64;
    s.decode_ms /= n;
    s.resize_ms /= n;
    s.crop_normalize_ms /= n;
    Ok(s)
}
