//! Unit tests of the parent module.

use super::*;

/// Table 2 of the paper and torchvision's `num_params` (224×224, 1000 classes).
const PAPER_PARAMS: [(Arch, usize, Option<usize>); 6] = [
    (Arch::A, 132_863_336, Some(132_868_840)),
    (Arch::ALrn, 132_863_336, None),
    (Arch::B, 133_047_848, Some(133_053_736)),
    (Arch::C, 133_638_952, None),
    (Arch::D, 138_357_544, Some(138_365_992)),
    (Arch::E, 143_667_240, Some(143_678_248)),
];

#[test]
fn parameter_counts_match_the_paper_and_torchvision_bn() {
    let device = Device::flex();
    for (arch, plain, bn) in PAPER_PARAMS {
        let cfg = VggConfig::paper(arch);
        // Params are lazy: counting does not allocate the 138M weights.
        assert_eq!(cfg.init(&device).num_params(), plain, "{arch}");
        assert_eq!(summary::param_count(&cfg), plain, "{arch} (analytic)");
        if let Some(bn) = bn {
            let cfg = VggConfig {
                batch_norm: true,
                ..cfg
            };
            assert_eq!(summary::param_count(&cfg), bn, "{arch}_bn (analytic)");
            // burn also counts BN's running mean and variance, which torchvision keeps
            // as buffers.
            let running = 2 * summary::bn_channels(&cfg);
            assert_eq!(cfg.init(&device).num_params(), bn + running, "{arch}_bn");
        }
    }
}

#[test]
fn every_configuration_runs_forward_on_a_small_input() {
    let device = Device::flex();
    for arch in Arch::ALL {
        for batch_norm in [false, true] {
            let cfg = VggConfig {
                width: 1.0 / 16.0,
                hidden: 16,
                num_classes: 7,
                in_channels: 1,
                head: Head::Compact,
                batch_norm,
                init: Init::Kaiming,
                ..VggConfig::paper(arch)
            };
            let model = cfg.init(&device);
            let running = 2 * summary::bn_channels(&cfg);
            assert_eq!(
                model.num_params(),
                summary::param_count(&cfg) + running,
                "{arch}"
            );
            let y = model.forward(Tensor::zeros([2, 1, 32, 32], &device));
            assert_eq!(y.dims(), [2, 7], "{arch}");
        }
    }
}

#[test]
fn paper_head_pools_any_input_to_7x7() {
    let device = Device::flex();
    let cfg = VggConfig {
        width: 1.0 / 32.0,
        hidden: 8,
        num_classes: 5,
        ..VggConfig::paper(Arch::A)
    };
    let model = cfg.init(&device);
    let y = model.forward(Tensor::ones([1, 3, 64, 64], &device));
    assert_eq!(y.dims(), [1, 5]);
    assert_eq!(cfg.classifier_dims(), vec![16 * 49, 8, 8, 5]);
}

#[test]
fn biases_start_at_zero_and_paper_init_has_std_0_01() {
    let device = Device::flex();
    let cfg = VggConfig {
        width: 0.25,
        hidden: 64,
        num_classes: 10,
        head: Head::Compact,
        ..VggConfig::paper(Arch::A)
    };
    let model = cfg.init(&device);
    let Feature::Conv(conv) = &model.features[3] else {
        panic!("features[3] should be the second conv")
    };
    let bias = conv.bias.as_ref().unwrap().val();
    assert_eq!(bias.abs().sum().into_scalar::<f32>(), 0.0);
    let w: Vec<f32> = conv.weight.val().into_data().try_into_vec().unwrap();
    let n = w.len() as f64;
    let mean = w.iter().map(|v| *v as f64).sum::<f64>() / n;
    let std = (w.iter().map(|v| (*v as f64 - mean).powi(2)).sum::<f64>() / n).sqrt();
    assert!((std - 0.01).abs() < 0.001, "std {std}");
}
