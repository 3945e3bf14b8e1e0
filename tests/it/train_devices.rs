//! Training across devices and backends: two flex devices against one, bf16, libtorch.

use crate::util::*;
use std::path::Path;

use super::train_e2e::{run, tiny_a};

fn metrics_column(path: &Path, column: &str) -> Vec<f64> {
    let (header, rows) = read_csv(path);
    rows.iter()
        .map(|r| field(&header, r, column).parse().unwrap())
        .collect()
}

/// Every float tensor of a run's `model.bpk`, in module order.
fn saved_parameters(run: &Path) -> Vec<Vec<f32>> {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::prelude::*;
    struct Collect(Vec<Vec<f32>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(
                param
                    .val()
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec()
                    .unwrap(),
            );
        }
    }
    let exp = vgg_train::config::Experiment::load(&run.join("config.toml"), &[]).unwrap();
    let vgg = vgg_train::model::VggConfig::from_experiment(&exp, 1, 10);
    let mut model = vgg.init(&Device::flex());
    vgg_train::model::load_burnpack(&mut model, &run.join("model.bpk")).unwrap();
    let mut c = Collect(Vec::new());
    model.visit(&mut c);
    c.0
}

/// burn-train sums the devices' gradients; two devices of batch 32 must train exactly what one
/// device of batch 64 trains: the same images per step, the mean gradient, weight decay once.
#[test]
fn two_flex_devices_of_batch_32_train_the_same_weights_as_one_of_batch_64() {
    let out = tempfile::tempdir().unwrap();
    let common = [
        "train.epochs=1",
        "data.val_split=0",
        "data.train_limit=256",
        "data.val_limit=64",
        "model.dropout=0.0",
        "train.schedule=\"constant\"",
        "train.lr=0.02",
        "train.momentum=0.9",
        "train.weight_decay=0.01",
    ];
    let mut two = common.to_vec();
    two.extend([
        "name=\"two\"",
        "run.devices=[\"flex\", \"flex\"]",
        "train.batch_size=32",
    ]);
    let mut one = common.to_vec();
    one.extend(["name=\"one\"", "train.batch_size=64"]);
    for extra in [&two, &one] {
        let o = run(&tiny_a(out.path(), extra));
        assert!(o.status.success(), "{:?}", text(&o));
    }
    let (header, rows) = read_csv(&out.path().join("two/results.csv"));
    assert_eq!(field(&header, &rows[0], "device"), "flex+flex");
    // The same learning rate on both: the gradients are scaled, not the rate.
    let lr_two = metrics_column(&out.path().join("two/metrics.csv"), "lr");
    let lr_one = metrics_column(&out.path().join("one/metrics.csv"), "lr");
    assert_eq!(lr_two, lr_one);
    let (a, b) = (
        saved_parameters(&out.path().join("two")),
        saved_parameters(&out.path().join("one")),
    );
    let start = saved_parameters_at_init(out.path());
    assert_eq!(a.len(), b.len());
    let mut moved = 0.0f32;
    for (i, ((x, y), s)) in a.iter().zip(&b).zip(&start).enumerate() {
        for ((x, y), s) in x.iter().zip(y).zip(s) {
            assert!(
                (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
                "tensor {i}: {x} on two devices vs {y} on one"
            );
            moved = moved.max((y - s).abs());
        }
    }
    // Four steps moved the weights well beyond the tolerance: the comparison is not vacuous.
    assert!(moved > 1e-3, "largest change {moved}");
}

/// The weights both runs of the device test start from (same seed, same init).
fn saved_parameters_at_init(dir: &Path) -> Vec<Vec<f32>> {
    use burn::module::{Module, ModuleVisitor, Param};
    use burn::prelude::*;
    struct Collect(Vec<Vec<f32>>);
    impl ModuleVisitor for Collect {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(
                param
                    .val()
                    .into_data()
                    .convert::<f32>()
                    .try_into_vec()
                    .unwrap(),
            );
        }
    }
    let exp = vgg_train::config::Experiment::load(&dir.join("one/config.toml"), &[]).unwrap();
    let vgg = vgg_train::model::VggConfig::from_experiment(&exp, 1, 10);
    let device = Device::flex();
    device.seed(exp.train.seed);
    let model = vgg.init(&device.autodiff());
    let mut c = Collect(Vec::new());
    model.visit(&mut c);
    c.0
}

#[test]
fn bf16_precision_trains_and_is_recorded() {
    let out = tempfile::tempdir().unwrap();
    let o = run(&tiny_a(
        out.path(),
        &[
            "train.epochs=2",
            "data.train_limit=1000",
            "data.val_limit=200",
            // As the sample test: BN and a constant rate learn in two short epochs.
            "model.batch_norm=true",
            "model.dropout=0.0",
            "train.lr=0.05",
            "train.schedule=\"constant\"",
            "run.precision=\"bf16\"",
        ],
    ));
    assert!(o.status.success(), "{:?}", text(&o));
    let (header, rows) = read_csv(&out.path().join("quickstart/results.csv"));
    assert_eq!(field(&header, &rows[0], "precision"), "bf16");
    // It learns: below the 90 % of chance after two epochs, and the loss falls.
    let top1: f64 = field(&header, &rows[0], "top1_err").parse().unwrap();
    assert!(top1 < 80.0, "top-1 error {top1}% in bf16");
    let loss = metrics_column(&out.path().join("quickstart/metrics.csv"), "train_loss");
    assert!(loss[1] < loss[0], "{loss:?}");
}

/// Needs a binary built with `--features tch` against PyTorch 2.9.0's libtorch
/// (`eval "$(scripts/setup-libtorch.sh)"`, then `cargo test --features tch`).
#[cfg(feature = "tch")]
#[test]
fn quickstart_trains_on_libtorch_cpu() {
    let out = tempfile::tempdir().unwrap();
    let o = run(&tiny_a(
        out.path(),
        &[
            "run.device=\"tch:cpu\"",
            "train.epochs=2",
            "data.train_limit=1000",
            "data.val_limit=300",
        ],
    ));
    assert!(o.status.success(), "{:?}", text(&o));
    let (header, rows) = read_csv(&out.path().join("quickstart/results.csv"));
    assert_eq!(field(&header, &rows[0], "device"), "tch:cpu");
    let loss = metrics_column(&out.path().join("quickstart/metrics.csv"), "train_loss");
    assert!(loss[1] < loss[0], "{loss:?}");
    let top1: f64 = field(&header, &rows[0], "top1_err").parse().unwrap();
    assert!(top1 < 85.0, "top-1 error {top1}% after 2 epochs on tch:cpu");
}
