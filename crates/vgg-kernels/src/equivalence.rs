//! The kernels against burn's own ops on the flex device: forward values and every gradient
//! (from `backward()`), on random shapes. Relative tolerance 1e-4 of each tensor's largest value.

use burn::prelude::*;
use burn::tensor::module::conv2d as burn_conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Distribution, activation};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::conv::ConvGeometry;
use super::{flex, max_pool2d, relu};

/// `max |a - b| <= 1e-4 · max |b|` (or 1e-6 absolute for an all-zero reference).
fn assert_close<const D: usize>(ours: Tensor<D>, burns: Tensor<D>, what: &str) {
    assert_eq!(ours.dims(), burns.dims(), "{what}: shapes");
    let a: Vec<f32> = ours.into_data().convert::<f32>().try_into_vec().unwrap();
    let b: Vec<f32> = burns.into_data().convert::<f32>().try_into_vec().unwrap();
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = a
        .iter()
        .zip(&b)
        .fold(0f32, |m, (x, y)| m.max((x - y).abs()));
    assert!(
        worst <= 1e-4 * scale.max(1e-2),
        "{what}: max difference {worst} against max value {scale}"
    );
}

fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
}

/// `ours` and `reference` (both functions of the leaf `x`) agree in value and in dL/dx for
/// `L = Σ dy ⊙ output`, `dy` random.
fn assert_same_values_and_input_gradient(
    x: &Tensor<4>,
    ours: Tensor<4>,
    reference: Tensor<4>,
    what: &str,
) {
    assert_close(ours.clone(), reference.clone(), what);
    let dy = random(ours.dims(), &x.device());
    let g_ref = (reference * dy.clone()).sum().backward();
    let g_ours = (ours * dy).sum().backward();
    assert_close(
        x.grad(&g_ours).unwrap(),
        x.grad(&g_ref).unwrap(),
        &format!("{what}: dx"),
    );
}

/// A size drawn log-uniformly from 1..=max.
fn log_uniform(rng: &mut StdRng, max: usize) -> usize {
    let e = rng.random_range(0.0..=(max as f64).ln());
    (e.exp().round() as usize).clamp(1, max)
}

#[derive(Debug, Clone, Copy)]
struct ConvCase {
    g: ConvGeometry,
    bias: bool,
    relu: bool,
}

/// Random cases covering batch 1 and odd batches, 1–512 channels, 1×1 to 64×64 maps with odd
/// and non-square sizes, 1×1 and 3×3 kernels, with and without bias and the fused ReLU; the
/// work of each case is capped so the test stays quick.
fn conv_cases(count: usize) -> Vec<ConvCase> {
    let mut rng = StdRng::seed_from_u64(7);
    let mut cases = Vec::new();
    while cases.len() < count {
        let height = log_uniform(&mut rng, 64);
        let width = if rng.random_bool(0.7) {
            height
        } else {
            log_uniform(&mut rng, 64)
        };
        let g = ConvGeometry {
            batch: [1, 2, 3, 5, 8][rng.random_range(0..5)],
            c_in: log_uniform(&mut rng, 512),
            c_out: log_uniform(&mut rng, 512),
            height,
            width,
            kernel: if rng.random_bool(0.75) { 3 } else { 1 },
        };
        let macs = g.batch * g.c_in * g.c_out * g.plane() * g.kernel * g.kernel;
        if macs > 20_000_000 {
            continue;
        }
        cases.push(ConvCase {
            g,
            bias: rng.random_bool(0.7),
            relu: rng.random_bool(0.5),
        });
    }
    // The extremes, always; and batches of 32 and 33, which a machine with up to 32 threads
    // splits into one image group per thread, summing partial weight gradients (the path
    // training takes; CI runs these tests at RAYON_NUM_THREADS=16 too).
    for (batch, c_in, c_out, side) in [(32, 16, 32, 16), (33, 8, 24, 12), (32, 64, 64, 6)] {
        cases.push(ConvCase {
            g: ConvGeometry {
                batch,
                c_in,
                c_out,
                height: side,
                width: side,
                kernel: 3,
            },
            bias: true,
            relu: true,
        });
    }
    for (c_in, c_out, side) in [(512, 1, 2), (1, 512, 2), (3, 8, 64)] {
        cases.push(ConvCase {
            g: ConvGeometry {
                batch: 1,
                c_in,
                c_out,
                height: side,
                width: side,
                kernel: 3,
            },
            bias: true,
            relu: true,
        });
    }
    cases
}

#[test]
fn conv_forward_and_gradients_match_burns_conv2d_on_random_shapes() {
    let device = Device::flex().autodiff();
    for case in conv_cases(40) {
        let ConvCase { g, bias, relu } = case;
        let k = g.kernel;
        let x = random([g.batch, g.c_in, g.height, g.width], &device).require_grad();
        let w = (random([g.c_out, g.c_in, k, k], &device) * (1.0 / (g.c_in * k * k) as f64).sqrt())
            .detach()
            .require_grad();
        let b = bias.then(|| random([g.c_out], &device).require_grad());
        let dy = random([g.batch, g.c_out, g.height, g.width], &device);

        let options = ConvOptions::new([1, 1], [k / 2, k / 2], [1, 1], 1);
        let pre_activation = burn_conv2d(x.clone(), w.clone(), b.clone(), options);
        // ReLU's derivative jumps at 0: where the pre-activation is within float error of 0,
        // a 1e-7 difference in summation order flips it, and one flipped position moves dx by
        // dy · w (~0.1). Such kinks say nothing about the kernels, so the upstream gradient
        // leaves out the outputs within 1e-3 of the kink (about 0.1 % of them).
        let dy = if relu {
            let away_from_kink = pre_activation
                .clone()
                .detach()
                .abs()
                .greater_elem(1e-3)
                .float();
            dy * away_from_kink
        } else {
            dy
        };
        let reference = if relu {
            activation::relu(pre_activation)
        } else {
            pre_activation
        };
        let ours = flex::conv2d(x.clone(), w.clone(), b.clone(), g, relu)
            .unwrap_or_else(|| panic!("{case:?}: not taken by the flex path"));
        let what = |t: &str| format!("{case:?}: {t}");
        assert_close(ours.clone(), reference.clone(), &what("output"));

        let grads_ref = (reference * dy.clone()).sum().backward();
        let grads_ours = (ours * dy).sum().backward();
        assert_close(
            x.grad(&grads_ours).unwrap(),
            x.grad(&grads_ref).unwrap(),
            &what("dx"),
        );
        assert_close(
            w.grad(&grads_ours).unwrap(),
            w.grad(&grads_ref).unwrap(),
            &what("dW"),
        );
        if let Some(b) = b {
            assert_close(
                b.grad(&grads_ours).unwrap(),
                b.grad(&grads_ref).unwrap(),
                &what("db"),
            );
        }
    }
}

#[test]
fn conv_without_autodiff_matches_burns_conv2d() {
    let device = Device::flex();
    let g = ConvGeometry {
        batch: 3,
        c_in: 5,
        c_out: 7,
        height: 9,
        width: 6,
        kernel: 3,
    };
    let x = random([3, 5, 9, 6], &device);
    let w = random([7, 5, 3, 3], &device);
    let b = random([7], &device);
    let options = ConvOptions::new([1, 1], [1, 1], [1, 1], 1);
    let reference = activation::relu(burn_conv2d(x.clone(), w.clone(), Some(b.clone()), options));
    let ours = flex::conv2d(x, w, Some(b), g, true).expect("flex path");
    assert_close(ours, reference, "inference conv");
}

#[test]
fn max_pool_and_relu_match_burns_forward_and_gradient() {
    let device = Device::flex().autodiff();
    let mut rng = StdRng::seed_from_u64(11);
    let pool = burn::nn::pool::MaxPool2dConfig::new([2, 2])
        .with_strides([2, 2])
        .init();
    for _ in 0..20 {
        let shape = [
            rng.random_range(1..6),
            log_uniform(&mut rng, 64),
            rng.random_range(2..40),
            rng.random_range(2..40),
        ];
        let x = random(shape, &device).require_grad();
        let reference = pool.forward(x.clone());
        let ours = max_pool2d(&pool, x.clone());
        assert_same_values_and_input_gradient(&x, ours, reference, &format!("{shape:?}: pool"));
        let reference = activation::relu(x.clone());
        let ours = relu(x.clone());
        assert_same_values_and_input_gradient(&x, ours, reference, &format!("{shape:?}: relu"));
    }
}

#[test]
fn lrn_matches_burns_local_response_norm_forward_and_gradient() {
    let device = Device::flex().autodiff();
    let mut rng = StdRng::seed_from_u64(13);
    for round in 0..16 {
        let shape = [
            rng.random_range(1..5),
            log_uniform(&mut rng, 96),
            rng.random_range(1..20),
            rng.random_range(1..20),
        ];
        // The paper's constants, then larger alphas (which make the window matter) and other
        // exponents and window sizes, odd and even.
        let params = if round == 0 {
            super::LrnParams {
                size: 5,
                alpha: 1e-4,
                beta: 0.75,
                k: 2.0,
            }
        } else {
            super::LrnParams {
                size: rng.random_range(1..8),
                alpha: rng.random_range(0.01..0.5),
                beta: [0.75, 0.5, 1.0][rng.random_range(0..3)],
                k: rng.random_range(1.0..3.0),
            }
        };
        let burns = burn::nn::LocalResponseNormConfig::new(params.size)
            .with_alpha(params.alpha as f64 * params.size as f64)
            .with_beta(params.beta as f64)
            .with_k(params.k as f64)
            .init();
        // Half of the inputs channels last (an NHWC leaf seen as NCHW), as the kernels' convs
        // leave them; each side gets its own view, so that each backward has its own graph.
        let [n, c, h, w] = shape;
        let channels_last = round % 2 == 1;
        let x = if channels_last {
            random([n, h, w, c], &device).require_grad()
        } else {
            random(shape, &device).require_grad()
        };
        let input = || {
            if channels_last {
                x.clone().permute([0, 3, 1, 2])
            } else {
                x.clone()
            }
        };
        let what = |t: &str| format!("{shape:?} {params:?}: {t}");
        let reference = burns.forward(input());
        let ours = flex::local_response_norm(input(), params)
            .unwrap_or_else(|| panic!("{}", what("not taken by the flex path")));
        assert_same_values_and_input_gradient(&x, ours, reference, &what("LRN"));
    }
}

#[test]
fn shapes_the_kernels_do_not_cover_fall_back_to_burn() {
    let device = Device::flex();
    // Stride 2: burn's conv.
    let conv = burn::nn::conv::Conv2dConfig::new([2, 3], [3, 3])
        .with_stride([2, 2])
        .with_padding(burn::nn::PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(&device);
    let x = random([1, 2, 8, 8], &device);
    let y = super::conv2d(&conv, x.clone(), false);
    assert_close(y, conv.forward(x.clone()), "strided conv");
    // bf16: burn's conv.
    let x16 = x.clone().cast(burn::tensor::DType::BF16);
    let conv16 = burn::nn::conv::Conv2dConfig::new([2, 3], [3, 3])
        .with_padding(burn::nn::PaddingConfig2d::Explicit(1, 1, 1, 1))
        .init(&device);
    let conv16 = burn::module::Module::map(conv16, &mut CastToBf16);
    assert_eq!(
        super::conv2d(&conv16, x16, true).dtype(),
        burn::tensor::DType::BF16
    );
}

struct CastToBf16;

impl burn::module::ModuleMapper for CastToBf16 {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<Tensor<D>>,
    ) -> burn::module::Param<Tensor<D>> {
        param.map(|t| t.cast(burn::tensor::DType::BF16))
    }
}
