//! The fully-convolutional net of §3.2: the FC layers applied as convolutions, FC-6 as a
//! `p`×`p` conv (7×7 for the paper's head) and the others as 1×1 convs, so the network runs
//! on a whole rescaled image and gives a class-score map.

use burn::prelude::*;
use burn::tensor::activation::relu;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;

use crate::model::Vgg;

/// The classifier of a [`Vgg`] as convolutions.
#[derive(Debug, Clone)]
pub struct DenseHead {
    /// `(weight [out, in, k, k], bias [out])` per FC layer, input first.
    layers: Vec<(Tensor<4>, Tensor<1>)>,
}

impl DenseHead {
    /// Converts `model`'s FC layers; `pool_out` is the side the head pools the last map to
    /// (7 for the paper's head, 1 for the compact one), the kernel of the first conv.
    pub fn new(model: &Vgg, pool_out: usize) -> DenseHead {
        let layers = model
            .classifier
            .iter()
            .enumerate()
            .map(|(i, fc)| {
                let w = fc.weight.val(); // [d_in, d_out]
                let [d_in, d_out] = w.dims();
                let k = if i == 0 { pool_out } else { 1 };
                // Linear flattens (C, H, W), so row c·k·k + y·k + x of the weight is the
                // conv tap (c, y, x).
                let w = w.transpose().reshape([d_out, d_in / (k * k), k, k]);
                let b = match &fc.bias {
                    Some(b) => b.val(),
                    None => Tensor::zeros([d_out], &w.device()),
                };
                (w, b)
            })
            .collect();
        DenseHead { layers }
    }

    /// Class-score map.
    ///
    /// # Shapes
    /// - `features`: `[N, C, H, W]` (the conv extractor's output), H and W at least `pool_out`
    /// - returns `[N, classes, H - pool_out + 1, W - pool_out + 1]`
    pub fn forward(&self, mut x: Tensor<4>) -> Tensor<4> {
        let last = self.layers.len() - 1;
        for (i, (w, b)) in self.layers.iter().enumerate() {
            x = conv2d(
                x,
                w.clone(),
                Some(b.clone()),
                ConvOptions::new([1, 1], [0, 0], [1, 1], 1),
            );
            if i < last {
                x = relu(x);
            }
        }
        x
    }

    /// Class scores of whole images: the score map averaged over its positions.
    ///
    /// # Shapes
    /// - `features`: `[N, C, H, W]`
    /// - returns `[N, classes]`
    pub fn scores(&self, features: Tensor<4>) -> Tensor<2> {
        let map = self.forward(features);
        let [n, k, _, _] = map.dims();
        map.mean_dim(3).mean_dim(2).reshape([n, k])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;
    use crate::config::{Head, Init};
    use crate::model::VggConfig;

    fn max_abs_diff(a: Tensor<2>, b: Tensor<2>) -> f32 {
        (a - b).abs().max().into_scalar::<f32>()
    }

    /// VGG-A at 1/32 width with the paper's head.
    fn narrow_a(hidden: usize, num_classes: usize) -> VggConfig {
        VggConfig {
            width: 1.0 / 32.0,
            hidden,
            num_classes,
            init: Init::Kaiming,
            ..VggConfig::paper(Arch::A)
        }
    }

    #[test]
    fn fc_as_conv_gives_the_fc_logits_on_a_224_input() {
        let device = Device::flex();
        let cfg = narrow_a(16, 6);
        let model = cfg.init(&device);
        let x = Tensor::<4>::random(
            [2, 3, 224, 224],
            burn::tensor::Distribution::Normal(0.0, 1.0),
            &device,
        );
        let fc = model.forward(x.clone());
        let head = DenseHead::new(&model, cfg.pool_out());
        let map = head.forward(model.forward_features(x.clone()));
        assert_eq!(map.dims(), [2, 6, 1, 1]);
        let dense = head.scores(model.forward_features(x));
        let scale = fc.clone().abs().max().into_scalar::<f32>();
        assert!(scale > 1e-3, "logits too small to compare: {scale}");
        assert!(max_abs_diff(fc, dense) < 1e-4 * scale.max(1.0));
    }

    #[test]
    fn a_larger_image_gives_a_score_map_of_the_extra_positions() {
        let device = Device::flex();
        let cfg = narrow_a(8, 3);
        let model = cfg.init(&device);
        let head = DenseHead::new(&model, 7);
        // 256×320 → an 8×10 map → a 2×4 score map.
        let map = head.forward(model.forward_features(Tensor::ones([1, 3, 256, 320], &device)));
        assert_eq!(map.dims(), [1, 3, 2, 4]);
        // The compact head's 1×1 "conv" keeps the map's size.
        let compact = VggConfig {
            head: Head::Compact,
            ..cfg
        };
        let model = compact.init(&device);
        let head = DenseHead::new(&model, 1);
        let map = head.forward(model.forward_features(Tensor::ones([1, 3, 64, 96], &device)));
        assert_eq!(map.dims(), [1, 3, 2, 3]);
    }
}
