//! The training math on flex, pinned twice: vgg-train's own kernels against burn's ops (one SGD
//! step of whole networks), and against PyTorch 2.9 (three SGD steps of a torchvision VGG). The
//! PyTorch fixture (`tests/fixtures/sgd/`) is written by `scripts/peer/sgd_steps_fixture.py`.

use crate::util::{Collect, assert_tensors_close, fixture_input, parameters, root};
use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{GradientsParams, ModuleOptimizer, SgdConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use serde::Deserialize;
use vgg_train::arch::Arch;
use vgg_train::config::{Head, Init, Kernels, LrnConfig};
use vgg_train::data::ImageBatch;
use vgg_train::model::torchvision::load_torchvision;
use vgg_train::model::{Feature, Vgg, VggConfig};

/// The model's tensors apart from BN's running variances; those variances; and the number of
/// values per channel each BN layer normalises for an input of `batch` images of `size`².
fn parameters_and_running_variances(
    model: &Vgg,
    batch: usize,
    size: usize,
) -> (Vec<Vec<f32>>, Vec<Vec<f32>>, Vec<usize>) {
    let (mut strict, mut variances, mut counts) = (Collect(Vec::new()), Vec::new(), Vec::new());
    let mut side = size;
    for layer in &model.features {
        match layer {
            Feature::Pool(_) => side /= 2,
            Feature::BatchNorm(bn) => {
                bn.gamma.visit(&mut strict);
                bn.beta.visit(&mut strict);
                let values = |t: Tensor<1>| t.into_data().try_into_vec::<f32>().unwrap();
                strict.0.push(values(bn.running_mean.value()));
                variances.push(values(bn.running_var.value()));
                counts.push(batch * side * side);
            }
            other => other.visit(&mut strict),
        }
    }
    model.classifier.visit(&mut strict);
    (strict.0, variances, counts)
}

fn sgd() -> ModuleOptimizer {
    SgdConfig::new()
        .with_momentum(Some(
            MomentumConfig::new().with_momentum(0.9).with_dampening(0.0),
        ))
        .with_weight_decay(Some(WeightDecayConfig::new(5e-4)))
        .init()
}

/// What `steps` SGD steps on one batch did.
struct Trained {
    /// Logits of the first forward pass.
    first_logits: Vec<f32>,
    /// Loss of each step, before its update.
    losses: Vec<f32>,
    model: Vgg,
}

fn train_steps(mut model: Vgg, batch: &ImageBatch, steps: usize, lr: f64) -> Trained {
    let mut optim = sgd();
    let (mut losses, mut first_logits) = (Vec::new(), None);
    for _ in 0..steps {
        let out = model.forward_classification(batch.clone());
        first_logits.get_or_insert_with(|| out.output.clone().into_data().try_into_vec().unwrap());
        losses.push(out.loss.clone().into_scalar::<f32>());
        let grads = GradientsParams::from_grads(out.loss.backward(), &model);
        model = optim.step(lr, model, grads);
    }
    Trained {
        first_logits: first_logits.unwrap_or_default(),
        losses,
        model,
    }
}

/// A small network of each kind the kernels see: 3×3 convs with the fused ReLU (A), 1×1 convs
/// (C), 5×5 convs (B-5x5), LRN between a conv and its pool (A-LRN), and BN between a conv and
/// its ReLU (the standalone ReLU kernel).
#[test]
fn own_kernels_give_burns_loss_and_update_for_one_sgd_step_of_whole_networks() {
    let device = Device::flex().autodiff();
    for (arch, batch_norm) in [
        (Arch::A, false),
        (Arch::C, false),
        (Arch::B5x5, false),
        (Arch::ALrn, false),
        (Arch::A, true),
    ] {
        let cfg = VggConfig {
            width: 1.0 / 16.0,
            hidden: 32,
            num_classes: 10,
            in_channels: 3,
            head: Head::Compact,
            dropout: 0.0,
            batch_norm,
            init: Init::Kaiming,
            kernels: Kernels::Burn,
            ..VggConfig::paper(arch)
        };
        device.seed(3);
        let burns = cfg.init(&device);
        let ours = Vgg {
            kernels: Kernels::Own,
            ..burns.clone()
        };
        // An odd batch: 5 images of 3×32×32.
        let batch = ImageBatch {
            images: Tensor::random([5, 3, 32, 32], Distribution::Normal(0.0, 1.0), &device),
            targets: Tensor::from_data(TensorData::new(vec![0i64, 3, 7, 9, 3], [5]), &device),
        };
        let what = format!("{arch} batch_norm={batch_norm}");
        let b = train_steps(burns, &batch, 1, 0.05);
        let o = train_steps(ours, &batch, 1, 0.05);
        assert!(
            (o.losses[0] - b.losses[0]).abs() <= 1e-4 * b.losses[0].abs(),
            "{what}: loss {} vs burn's {}",
            o.losses[0],
            b.losses[0]
        );
        assert_tensors_close(
            &parameters(&o.model),
            &parameters(&b.model),
            1e-4,
            &format!("{what}: parameters after one step"),
        );
    }
}

#[derive(Deserialize)]
struct Fixture {
    width: f64,
    hidden: usize,
    num_classes: usize,
    batch: usize,
    size: usize,
    labels: Vec<i64>,
    lr: f64,
    steps: usize,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    batch_norm: bool,
    logits: Vec<Vec<f32>>,
    losses: Vec<f32>,
}

/// The fixture's batch: its input ([`fixture_input`]) and labels.
fn fixture_batch(f: &Fixture, device: &Device) -> ImageBatch {
    let s = f.size;
    let data = fixture_input(f.batch, s);
    ImageBatch {
        images: Tensor::from_data(TensorData::new(data, [f.batch, 3, s, s]), device),
        targets: Tensor::from_data(TensorData::new(f.labels.clone(), [f.batch]), device),
    }
}

#[test]
fn three_sgd_steps_on_flex_match_pytorch_with_and_without_batch_norm() {
    let dir = root().join("tests/fixtures/sgd");
    let f: Fixture =
        serde_json::from_str(&std::fs::read_to_string(dir.join("steps.json")).unwrap()).unwrap();
    let device = Device::flex().autodiff();
    let batch = fixture_batch(&f, &device);
    for case in &f.cases {
        let cfg = VggConfig {
            width: f.width,
            hidden: f.hidden,
            num_classes: f.num_classes,
            dropout: 0.0,
            batch_norm: case.batch_norm,
            init: Init::Kaiming,
            lrn: LrnConfig::default(),
            kernels: Kernels::Own,
            ..VggConfig::paper(Arch::A)
        };
        let load = |file: &str, device: &Device| {
            let mut model = cfg.init(device);
            load_torchvision(&mut model, &cfg, &dir.join(file)).unwrap();
            model
        };
        let model = load(&format!("{}-init.pth", case.name), &device);
        let trained = train_steps(model, &batch, f.steps, f.lr);
        let want: Vec<f32> = case.logits.iter().flatten().copied().collect();
        assert_tensors_close(
            &[trained.first_logits],
            &[want],
            1e-4,
            &format!("{}: logits", case.name),
        );
        for (step, (ours, torch)) in trained.losses.iter().zip(&case.losses).enumerate() {
            assert!(
                (ours - torch).abs() <= 1e-4 * torch.abs(),
                "{}: loss of step {} is {ours}, PyTorch's {torch}",
                case.name,
                step + 1
            );
        }
        let want = load(
            &format!("{}-step{}.pth", case.name, f.steps),
            &Device::flex(),
        );
        let (ours, our_variances, _) =
            parameters_and_running_variances(&trained.model.valid(), f.batch, f.size);
        let (theirs, their_variances, counts) =
            parameters_and_running_variances(&want, f.batch, f.size);
        assert_tensors_close(
            &ours,
            &theirs,
            1e-4,
            &format!("{}: parameters after {} steps", case.name, f.steps),
        );
        // burn's BN updates its running variance with the biased batch variance, PyTorch with
        // the unbiased one (n/(n-1) times larger). From 1 at the start, after k steps of
        // momentum 0.1: v = 0.9^k + Σ 0.1·0.9^(k-1-i)·var_i, so PyTorch's v maps exactly to
        // burn's as 0.9^k + (v - 0.9^k)·(n-1)/n.
        let kept = 0.9f32.powi(f.steps as i32);
        let their_variances: Vec<Vec<f32>> = their_variances
            .iter()
            .zip(&counts)
            .map(|(v, n)| {
                let unbias = (*n as f32 - 1.0) / *n as f32;
                v.iter().map(|v| kept + (v - kept) * unbias).collect()
            })
            .collect();
        assert_tensors_close(
            &our_variances,
            &their_variances,
            1e-4,
            &format!(
                "{}: BN running variances after {} steps",
                case.name, f.steps
            ),
        );
    }
}
