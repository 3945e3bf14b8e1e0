//! The VGG network: one [`Vgg`] module that walks a configuration of [`crate::arch`]'s table.

mod burnpack;
mod error;
pub mod init;
pub mod lrn;
pub mod summary;
pub mod torchvision;

pub use burnpack::{BurnpackError, copy_weights, load_burnpack};
pub use error::WeightsError;

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{
    BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Linear, LinearConfig, LocalResponseNorm,
    PaddingConfig2d, Relu,
};
use std::path::Path;

use burn::prelude::*;

use crate::arch::{Arch, LayerSpec, scaled_channels};
use crate::config::{Experiment, Head, Init, Kernels, LrnConfig, ModelConfig};
use vgg_kernels as kernels;

/// Everything needed to build a [`Vgg`]: the model section of the config with the data set's
/// channel and class counts filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct VggConfig {
    /// Configuration of Table 1.
    pub arch: Arch,
    /// BN after every conv.
    pub batch_norm: bool,
    /// Channel multiplier.
    pub width: f64,
    /// Input channels.
    pub in_channels: usize,
    /// Output classes.
    pub num_classes: usize,
    /// Classifier head.
    pub head: Head,
    /// Units per hidden FC layer.
    pub hidden: usize,
    /// Hidden FC layers.
    pub hidden_layers: usize,
    /// Dropout after each hidden FC layer.
    pub dropout: f64,
    /// Initialisation.
    pub init: Init,
    /// LRN constants (A-LRN).
    pub lrn: LrnConfig,
    /// Implementation of the conv, ReLU and max-pool layers (`run.kernels`).
    pub kernels: Kernels,
}

impl VggConfig {
    /// The paper's network for ImageNet: 3 input channels, 1000 classes, 4096-4096 head,
    /// dropout 0.5, N(0, 0.01) initialisation.
    pub fn paper(arch: Arch) -> Self {
        Self {
            arch,
            batch_norm: false,
            width: 1.0,
            in_channels: 3,
            num_classes: 1000,
            head: Head::Paper,
            hidden: 4096,
            hidden_layers: 2,
            dropout: 0.5,
            init: Init::Paper,
            lrn: LrnConfig::default(),
            kernels: Kernels::Own,
        }
    }

    /// From the config's model section; `in_channels` and `num_classes` fill the zeros.
    pub fn from_model(m: &ModelConfig, in_channels: usize, num_classes: usize) -> Self {
        Self {
            arch: m.arch,
            batch_norm: m.batch_norm,
            width: m.width,
            in_channels: if m.in_channels == 0 {
                in_channels
            } else {
                m.in_channels
            },
            num_classes: if m.num_classes == 0 {
                num_classes
            } else {
                m.num_classes
            },
            head: m.head,
            hidden: m.hidden,
            hidden_layers: m.hidden_layers,
            dropout: m.dropout,
            init: m.init,
            lrn: m.lrn,
            kernels: Kernels::Own,
        }
    }

    /// The experiment's network: [`VggConfig::from_model`] with the kernels of `run.kernels`.
    pub fn from_experiment(exp: &Experiment, in_channels: usize, num_classes: usize) -> Self {
        Self {
            kernels: exp.run.kernels,
            ..Self::from_model(&exp.model, in_channels, num_classes)
        }
    }

    /// Side of the map the head pools to: 7 for the paper's head, 1 for the compact one.
    pub fn pool_out(&self) -> usize {
        match self.head {
            Head::Paper => 7,
            Head::Compact => 1,
        }
    }

    /// Channels leaving the last conv.
    pub fn feature_channels(&self) -> usize {
        self.arch
            .layers()
            .iter()
            .rev()
            .find_map(|l| match l {
                LayerSpec::Conv { out, .. } => Some(scaled_channels(*out, self.width)),
                _ => None,
            })
            .unwrap_or(self.in_channels)
    }

    /// Widths of the classifier's linear layers, input first: `[512·7·7, 4096, 4096, 1000]`.
    pub fn classifier_dims(&self) -> Vec<usize> {
        let p = self.pool_out();
        let mut dims = vec![self.feature_channels() * p * p];
        dims.extend(std::iter::repeat_n(self.hidden, self.hidden_layers));
        dims.push(self.num_classes);
        dims
    }

    /// Builds the network on `device`, initialised per [`VggConfig::init`].
    pub fn init(&self, device: &Device) -> Vgg {
        let mut features = Vec::new();
        let mut c_in = self.in_channels;
        for spec in self.arch.layers() {
            match *spec {
                LayerSpec::Conv { out, kernel } => {
                    let c_out = scaled_channels(out, self.width);
                    let pad = kernel / 2;
                    let mut conv = Conv2dConfig::new([c_in, c_out], [kernel, kernel])
                        .with_padding(PaddingConfig2d::Explicit(pad, pad, pad, pad))
                        .with_initializer(init::conv_initializer(self.init))
                        .init(device);
                    conv.bias = Some(init::zeros(c_out, device));
                    features.push(Feature::Conv(conv));
                    if self.batch_norm {
                        features.push(Feature::BatchNorm(BatchNormConfig::new(c_out).init(device)));
                    }
                    features.push(Feature::Relu(Relu::new()));
                    c_in = c_out;
                }
                LayerSpec::Lrn => features.push(Feature::Lrn(lrn::paper_lrn(&self.lrn))),
                LayerSpec::Pool => features.push(Feature::Pool(
                    MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init(),
                )),
            }
        }
        let classifier = self
            .classifier_dims()
            .windows(2)
            .map(|w| {
                let mut fc = LinearConfig::new(w[0], w[1])
                    .with_initializer(init::fc_initializer(self.init))
                    .init(device);
                fc.bias = Some(init::zeros(w[1], device));
                fc
            })
            .collect();
        let p = self.pool_out();
        Vgg {
            features,
            avgpool: AdaptiveAvgPool2dConfig::new([p, p]).init(),
            classifier,
            dropout: DropoutConfig::new(self.dropout).init(),
            relu: Relu::new(),
            kernels: self.kernels,
            lrn: lrn::kernel_params(&self.lrn),
            gradient_scale: 1.0,
        }
    }
}

/// One layer of the feature extractor. The order of `Vgg::features` mirrors torchvision's
/// `features` Sequential (conv, [bn], relu, …, pool), so its indices match torchvision's keys.
#[derive(Module, Debug)]
pub enum Feature {
    /// Convolution.
    Conv(Conv2d),
    /// Batch normalisation (`batch_norm = true`).
    BatchNorm(BatchNorm),
    /// ReLU.
    Relu(Relu),
    /// The paper's LRN (A-LRN).
    Lrn(LocalResponseNorm),
    /// 2×2 max-pool.
    Pool(MaxPool2d),
}

impl Feature {
    /// Applies the layer. Shapes: `[N, C, H, W]` → `[N, C', H', W']`.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Feature::Conv(m) => m.forward(x),
            Feature::BatchNorm(m) => m.forward(x),
            Feature::Relu(m) => m.forward(x),
            Feature::Lrn(m) => m.forward(x),
            Feature::Pool(m) => m.forward(x),
        }
    }
}

/// A VGG network: conv feature extractor, adaptive average pool, FC classifier.
#[derive(Module, Debug)]
pub struct Vgg {
    /// Convs, norms, ReLUs and pools in order.
    pub features: Vec<Feature>,
    /// Pools the last map to 7×7 (paper head) or 1×1 (compact head).
    pub avgpool: AdaptiveAvgPool2d,
    /// FC layers; ReLU and dropout follow all but the last.
    pub classifier: Vec<Linear>,
    /// Dropout after each hidden FC layer (active only while training).
    pub dropout: Dropout,
    /// ReLU after each hidden FC layer.
    pub relu: Relu,
    /// Implementation of the conv, ReLU, max-pool and LRN layers.
    #[module(skip)]
    pub kernels: Kernels,
    /// The constants of the LRN layer (A-LRN), as [`kernels`] takes them; the same as those of
    /// the `Feature::Lrn` module, which the burn path runs.
    #[module(skip)]
    pub lrn: kernels::LrnParams,
    /// Factor on the loss before backpropagation: 1/n when training on n devices, whose
    /// gradients burn-train sums.
    #[module(skip)]
    pub gradient_scale: f64,
}

impl Vgg {
    /// Class scores (logits).
    ///
    /// # Shapes
    /// - `x`: `[N, C_in, H, W]`, H and W at least 32
    /// - returns `[N, num_classes]`
    pub fn forward(&self, x: Tensor<4>) -> Tensor<2> {
        let x = self.forward_features(x); // [N, C, H/32, W/32]
        let x = self.avgpool.forward(x); // [N, C, p, p]
        let mut x: Tensor<2> = x.flatten(1, 3); // [N, C·p·p], (C, H, W) order as torchvision
        let last = self.classifier.len() - 1;
        for (i, fc) in self.classifier.iter().enumerate() {
            x = fc.forward(x);
            if i < last {
                x = self.dropout.forward(self.relu.forward(x));
            }
        }
        x
    }

    /// The conv feature extractor alone: `[N, C_in, H, W]` → `[N, C, H/32, W/32]`.
    ///
    /// With [`Kernels::Own`], convs, ReLUs, pools and the LRN go through [`kernels`], and a conv followed
    /// by its ReLU runs as one fused operation.
    pub fn forward_features(&self, mut x: Tensor<4>) -> Tensor<4> {
        if self.kernels == Kernels::Burn {
            for layer in &self.features {
                x = layer.forward(x);
            }
            return x;
        }
        let mut layers = self.features.iter().peekable();
        while let Some(layer) = layers.next() {
            x = match layer {
                Feature::Conv(conv) => {
                    let relu = matches!(layers.peek(), Some(Feature::Relu(_)));
                    if relu {
                        layers.next();
                    }
                    kernels::conv2d(conv, x, relu)
                }
                Feature::Relu(_) => kernels::relu(x),
                Feature::Pool(pool) => kernels::max_pool2d(pool, x),
                Feature::Lrn(lrn) => kernels::local_response_norm(lrn, self.lrn, x),
                other => other.forward(x),
            };
        }
        x
    }
}

/// Brings every float tensor of `model` to its device's float type (`run.precision`): weights
/// stored in another precision (torchvision's f32 files, a run trained in bf16) would otherwise
/// meet activations of a different type.
pub fn to_device_precision(model: &mut Vgg) {
    use burn::module::{ModuleMapper, Param};
    use burn::tensor::FloatDType;
    struct CastFloats(FloatDType);
    impl ModuleMapper for CastFloats {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let target = self.0;
            param.map(|t| {
                if t.dtype() == target.into() {
                    t
                } else {
                    // A fresh leaf, so that a trainable parameter stays trainable.
                    t.cast(target).detach()
                }
            })
        }
    }
    let Some(device) = model.devices().into_iter().next() else {
        return;
    };
    let target = device.settings().float_dtype;
    *model = model.clone().map(&mut CastFloats(target));
}

/// Loads a weights file into `model` (built from `vgg`): torchvision's state dict for `.pth`
/// and `.pt`, torchvision-named safetensors (`vgg-train export`) for `.safetensors`, burnpack
/// (a run's `model.bpk`) otherwise.
pub fn load_weights_file(
    model: &mut Vgg,
    vgg: &VggConfig,
    path: &Path,
) -> Result<(), WeightsError> {
    if !path.is_file() {
        return Err(WeightsError::NotFound {
            path: path.to_path_buf(),
        });
    }
    match path.extension().and_then(|e| e.to_str()) {
        Some("pth" | "pt" | "safetensors") => {
            torchvision::load_torchvision(model, vgg, path).map(|_| {
                to_device_precision(model);
            })
        }
        _ => load_burnpack(model, path).map_err(|what| WeightsError::Burnpack {
            path: path.to_path_buf(),
            arch: vgg.arch,
            what,
        }),
    }
}

#[cfg(test)]
mod tests;
