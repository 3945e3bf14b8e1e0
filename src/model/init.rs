//! Weight initialisation schemes (`model.init`).

use burn::module::{Initializer, Param};
use burn::nn::Linear;
use burn::nn::conv::Conv2d;
use burn::prelude::*;

use super::{Feature, Vgg};
use crate::config::Init;

/// He initialisation needs gain √2 in burn's Kaiming (std = gain / √fan).
const HE_GAIN: f64 = std::f64::consts::SQRT_2;

/// Initializer for conv weights.
pub fn conv_initializer(init: Init) -> Initializer {
    match init {
        // §3.1: "sampled from a normal distribution with the zero mean and 10^-2 variance";
        // like torchvision and Caffe we read the 10^-2 as the standard deviation.
        Init::Paper => Initializer::Normal {
            mean: 0.0,
            std: 0.01,
        },
        // torchvision: kaiming_normal_(mode="fan_out", nonlinearity="relu").
        Init::Torchvision => Initializer::KaimingNormal {
            gain: HE_GAIN,
            fan_out_only: true,
        },
        Init::Kaiming => Initializer::KaimingNormal {
            gain: HE_GAIN,
            fan_out_only: false,
        },
        Init::Xavier => Initializer::XavierUniform { gain: 1.0 },
    }
}

/// Initializer for FC weights.
pub fn fc_initializer(init: Init) -> Initializer {
    match init {
        Init::Paper | Init::Torchvision => Initializer::Normal {
            mean: 0.0,
            std: 0.01,
        },
        Init::Kaiming => Initializer::KaimingNormal {
            gain: HE_GAIN,
            fan_out_only: false,
        },
        Init::Xavier => Initializer::XavierUniform { gain: 1.0 },
    }
}

/// A zero bias of `len` elements (burn would otherwise initialise biases like the weights).
pub fn zeros(len: usize, device: &Device) -> Param<Tensor<1>> {
    Initializer::Zeros.init([len], device)
}

/// Why a trained network cannot warm-start this one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WarmStartMismatch {
    /// One of the source's first four convs has no conv of its shape left in the target.
    #[error("conv {conv} of the source ({shape:?}) has no matching conv")]
    NoMatchingConv {
        /// Which of the source's convs, from 1.
        conv: usize,
        /// Its weight shape.
        shape: [usize; 4],
    },
    /// The heads have different numbers of FC layers.
    #[error("the source has {source_layers} FC layers, this model {target_layers}")]
    FcLayers {
        /// FC layers of the source.
        source_layers: usize,
        /// FC layers of the target.
        target_layers: usize,
    },
    /// An FC layer's weight shape differs.
    #[error("FC layer {layer} is {source_shape:?} in the source but {target_shape:?} here")]
    FcShape {
        /// Which FC layer, from 1.
        layer: usize,
        /// Its shape in the source.
        source_shape: [usize; 2],
        /// Its shape in the target.
        target_shape: [usize; 2],
    },
}

/// The paper's warm start (§3.1): the first four conv layers and the FC layers of a trained
/// `source` (configuration A) are copied into `target`; the rest keeps its initialisation.
///
/// Each of the source's first four convs goes to the next conv of the target with the same
/// weight shape, so A's conv3-64, conv3-128, conv3-256, conv3-256 land on the first conv of
/// blocks 1 and 2 and the first two convs of block 3 of B, C, D or E. Returns the number of
/// layers copied, or an error naming the layer that does not fit.
pub fn warm_start(target: &mut Vgg, source: &Vgg) -> Result<usize, WarmStartMismatch> {
    let source_convs: Vec<&Conv2d> = source
        .features
        .iter()
        .filter_map(|f| match f {
            Feature::Conv(c) => Some(c),
            _ => None,
        })
        .take(4)
        .collect();
    let mut copied = 0;
    let mut next = 0;
    for (i, src) in source_convs.iter().enumerate() {
        let shape = src.weight.val().dims();
        let slot = target.features[next..]
            .iter()
            .position(|f| matches!(f, Feature::Conv(c) if c.weight.val().dims() == shape))
            .map(|p| p + next)
            .ok_or(WarmStartMismatch::NoMatchingConv { conv: i + 1, shape })?;
        if let Feature::Conv(dst) = &mut target.features[slot] {
            copy_conv(dst, src);
        }
        next = slot + 1;
        copied += 1;
    }
    if target.classifier.len() != source.classifier.len() {
        return Err(WarmStartMismatch::FcLayers {
            source_layers: source.classifier.len(),
            target_layers: target.classifier.len(),
        });
    }
    for (i, (dst, src)) in target
        .classifier
        .iter_mut()
        .zip(&source.classifier)
        .enumerate()
    {
        let (a, b) = (dst.weight.val().dims(), src.weight.val().dims());
        if a != b {
            return Err(WarmStartMismatch::FcShape {
                layer: i + 1,
                source_shape: b,
                target_shape: a,
            });
        }
        copy_linear(dst, src);
        copied += 1;
    }
    Ok(copied)
}

fn copy_conv(dst: &mut Conv2d, src: &Conv2d) {
    dst.weight = Param::from_tensor(src.weight.val().detach());
    dst.bias = src
        .bias
        .as_ref()
        .map(|b| Param::from_tensor(b.val().detach()));
}

fn copy_linear(dst: &mut Linear, src: &Linear) {
    dst.weight = Param::from_tensor(src.weight.val().detach());
    dst.bias = src
        .bias
        .as_ref()
        .map(|b| Param::from_tensor(b.val().detach()));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;
    use crate::config::Head;
    use crate::model::VggConfig;

    fn small(arch: Arch) -> VggConfig {
        VggConfig {
            width: 1.0 / 16.0,
            hidden: 8,
            num_classes: 5,
            in_channels: 1,
            head: Head::Compact,
            init: Init::Kaiming,
            ..VggConfig::paper(arch)
        }
    }

    fn conv(m: &Vgg, n: usize) -> Vec<f32> {
        let c = m
            .features
            .iter()
            .filter_map(|f| match f {
                Feature::Conv(c) => Some(c),
                _ => None,
            })
            .nth(n)
            .unwrap();
        c.weight.val().into_data().try_into_vec().unwrap()
    }

    #[test]
    fn a_initialises_the_first_convs_of_each_block_and_the_head_of_d() {
        let device = Device::flex();
        let a = small(Arch::A).init(&device);
        let mut d = small(Arch::D).init(&device);
        let before = conv(&d, 1);
        assert_eq!(warm_start(&mut d, &a).unwrap(), 7);
        // A's convs 0..4 -> D's convs 0, 2, 4, 5; D's conv 1 keeps its own weights.
        for (src, dst) in [(0, 0), (1, 2), (2, 4), (3, 5)] {
            assert_eq!(conv(&a, src), conv(&d, dst), "A conv {src} -> D conv {dst}");
        }
        assert_eq!(conv(&d, 1), before);
        let fc = |m: &Vgg| -> Vec<f32> {
            m.classifier[2]
                .weight
                .val()
                .into_data()
                .try_into_vec()
                .unwrap()
        };
        assert_eq!(fc(&a), fc(&d));
    }

    #[test]
    fn a_head_of_another_shape_is_an_error() {
        let device = Device::flex();
        let a = small(Arch::A).init(&device);
        let mut e = VggConfig {
            hidden: 16,
            ..small(Arch::E)
        }
        .init(&device);
        assert!(matches!(
            warm_start(&mut e, &a).unwrap_err(),
            WarmStartMismatch::FcShape { layer: 1, .. }
        ));
    }
}
