//! The shipped CPU configurations train through vgg-train's own flex kernels: one training step
//! of each network (the quickstart, the depth study's seven, the CIFAR-10 configs) runs every
//! conv, ReLU, max-pool and LRN on the kernels' fast path and none on burn's ops. The kernels count
//! their calls (`vgg_kernels::usage`); this file holds one test so that no other test of the
//! same process moves the counters.

mod util;

use burn::prelude::*;
use burn::tensor::Distribution;
use util::root;
use vgg_train::config::{Experiment, Kernels};
use vgg_train::data::ImageBatch;
use vgg_train::model::VggConfig;

#[test]
fn quickstart_and_study_networks_run_every_layer_on_the_flex_kernels() {
    let mut files = vec![root().join("configs/quickstart.toml")];
    for dir in ["configs/fashion-mnist", "configs/cifar10"] {
        let mut found: Vec<_> = std::fs::read_dir(root().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        found.sort();
        files.extend(found);
    }
    assert!(files.len() >= 8, "{files:?}");
    let device = Device::flex().autodiff();
    for file in files {
        let exp = Experiment::load(&file, &[]).unwrap();
        assert_eq!(exp.run.kernels, Kernels::Own, "{}", file.display());
        let classes = exp.data.dataset.standard_classes();
        let vgg = VggConfig::from_experiment(&exp, exp.data.channels, classes);
        let model = vgg.init(&device);
        let (n, c, s) = (3, exp.data.channels, exp.data.image_size);
        let batch = ImageBatch {
            images: Tensor::random([n, c, s, s], Distribution::Normal(0.0, 1.0), &device),
            targets: Tensor::from_data(TensorData::new(vec![0i64, 1, 2], [n]), &device),
        };
        let before = vgg_kernels::usage();
        let out = model.forward_classification(batch);
        let _ = out.loss.backward();
        let after = vgg_kernels::usage();
        assert_eq!(
            after.fallback,
            before.fallback,
            "{}: some layers ran on burn's ops",
            file.display()
        );
        // Every conv (its ReLU fused) and pool, plus the LRN net's standalone ReLUs: at least
        // one call per conv.
        let convs = vgg.arch.conv_layers();
        assert!(
            after.fast - before.fast >= convs,
            "{}: {} kernel calls for {convs} convs",
            file.display(),
            after.fast - before.fast
        );
    }
}
