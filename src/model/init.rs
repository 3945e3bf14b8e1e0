//! Weight initialisation schemes (`model.init`).

use burn::module::{Initializer, Param};
use burn::prelude::*;

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
