//! `vgg-train predict`: the top-5 classes of image files, one JSON line per image, through the
//! preprocessing of evaluation's centre view: for image folders torchvision's (shorter side to
//! `data.resize`, 256 for 224 crops; centre crop), for the 28×28 and 32×32 sets `data.fit` to
//! `data.image_size`; then the data set's mean and std.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use burn::tensor::activation::softmax;
use rayon::prelude::*;
use serde::Serialize;

use crate::augment::{self, Img};
use crate::config::{DatasetKind, Experiment};
use crate::data::{self, Pipeline, folder};
use crate::device::DeviceError;
use crate::error::DataError;
use crate::model::WeightsError;
use crate::model::{self, VggConfig};
use crate::results::RunPaths;

/// ImageNet's class names in torchvision's index order (from torchvision's metadata).
const IMAGENET_CLASSES: &str = include_str!("../assets/imagenet_classes.txt");

/// One line of output.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// The image file, as given.
    pub path: String,
    /// The five most probable `(class, probability)` pairs, most probable first.
    pub top5: Vec<(String, f32)>,
}

/// Class names for `exp`: the class folders of `data.path/train` when present, ImageNet's
/// names for 1000 classes, class indices otherwise.
pub fn class_names(exp: &Experiment, num_classes: usize) -> Vec<String> {
    if exp.data.dataset == DatasetKind::ImageFolder {
        let train = exp.data.resolved_path().join("train");
        if let Ok(names) = folder::class_names(&train)
            && names.len() == num_classes
        {
            return names;
        }
        if num_classes == 1000 {
            return IMAGENET_CLASSES.lines().map(str::to_string).collect();
        }
    }
    (0..num_classes).map(|c| c.to_string()).collect()
}

/// Decodes one image and prepares it exactly as evaluation prepares a test image for the
/// centre protocol: `channels × size × size` floats.
pub fn preprocess(
    exp: &Experiment,
    pipeline: &Pipeline,
    path: &Path,
) -> Result<Vec<f32>, DataError> {
    let d = &exp.data;
    let rgb = folder::decode_rgb(path)?;
    let img = if d.channels == 1 {
        let grey = image::DynamicImage::ImageRgb8(rgb).to_luma8();
        Img {
            channels: 1,
            height: grey.height() as usize,
            width: grey.width() as usize,
            data: grey.into_raw(),
        }
    } else {
        Img::from_rgb(&rgb)
    };
    let s = d.image_size;
    // As `Pipeline::base_image`, then the test scale of `DataSet::default_test_scale`.
    let (img, q) = if d.dataset == DatasetKind::ImageFolder {
        (img, pipeline.eval_resize)
    } else {
        (augment::fit_to(img, s, d.fit), s)
    };
    let mut out = vec![0f32; d.channels * s * s];
    pipeline.write_centre(&img, q, &mut out);
    Ok(out)
}

/// Why `vgg-train predict` could not load its network.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    /// The device is unknown or not compiled in.
    #[error("run.device: {0}")]
    Device(DeviceError),
    /// The weights file cannot be loaded into the configured network.
    #[error(transparent)]
    Weights(#[from] WeightsError),
}

impl PredictError {
    /// The process's exit status for this error: 2, each is the user's to fix.
    pub fn exit_status(&self) -> u8 {
        2
    }
}

/// Predicts `images` with `weights` (default: the run's `model.bpk`). Returns one result per
/// image, in order: a prediction, or the error that made the image unreadable.
pub fn predict(
    exp: &Experiment,
    weights: Option<&Path>,
    images: &[PathBuf],
) -> Result<Vec<Result<Prediction, DataError>>, PredictError> {
    let weights = weights
        .map(Path::to_path_buf)
        .unwrap_or_else(|| RunPaths::new(exp.run_dir()).best_model());
    let (_, device) = crate::device::open(&exp.run).map_err(PredictError::Device)?;
    let classes = data::num_classes(exp);
    let vgg = VggConfig::from_experiment(exp, exp.data.channels, classes);
    let mut net = vgg.init(&device);
    model::load_weights_file(&mut net, &vgg, &weights).map_err(PredictError::from)?;
    let names = class_names(exp, classes);
    let (c, s) = (exp.data.channels, exp.data.image_size);
    let pipeline = data::pipeline(&exp.data, &exp.augment);
    let mut out = Vec::with_capacity(images.len());
    for chunk in images.chunks(32) {
        let inputs: Vec<Result<Vec<f32>, DataError>> = chunk
            .par_iter()
            .map(|p| preprocess(exp, &pipeline, p))
            .collect();
        let good: Vec<&Vec<f32>> = inputs.iter().filter_map(|r| r.as_ref().ok()).collect();
        let mut probs = Vec::new();
        if !good.is_empty() {
            let flat: Vec<f32> = good.iter().flat_map(|v| v.iter().copied()).collect();
            let x = Tensor::<4>::from_data(TensorData::new(flat, [good.len(), c, s, s]), &device);
            probs = softmax(net.forward(x), 1)
                .into_data()
                .convert::<f32>()
                .try_into_vec::<f32>()
                .expect("converted to f32");
        }
        let mut rows = probs.chunks(classes.max(1));
        for (path, input) in chunk.iter().zip(inputs) {
            out.push(input.map(|_| Prediction {
                path: path.display().to_string(),
                top5: top_k(rows.next().expect("one row per decoded image"), &names, 5),
            }));
        }
    }
    Ok(out)
}

/// The `k` most probable classes, most probable first (ties: lower index first).
pub fn top_k(probs: &[f32], names: &[String], k: usize) -> Vec<(String, f32)> {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    order
        .into_iter()
        .take(k)
        .map(|i| (names[i].clone(), probs[i]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imagenet_names_are_a_thousand_in_torchvision_order() {
        let names: Vec<&str> = IMAGENET_CLASSES.lines().collect();
        assert_eq!(names.len(), 1000);
        assert_eq!(names[0], "tench");
        assert_eq!(names[999], "toilet tissue");
    }

    #[test]
    fn top_k_sorts_by_probability_then_index() {
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let top = top_k(&[0.2, 0.5, 0.2], &names, 2);
        assert_eq!(top, vec![("b".to_string(), 0.5), ("a".to_string(), 0.2)]);
    }
}
