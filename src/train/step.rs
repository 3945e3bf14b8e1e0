//! burn-train's step traits for [`Vgg`]: cross-entropy loss and classification output.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};

use crate::data::ImageBatch;
use crate::model::Vgg;

impl Vgg {
    /// Logits and mean cross-entropy loss of a batch.
    pub fn forward_classification(&self, batch: ImageBatch) -> ClassificationOutput {
        let logits = self.forward(batch.images); // [N, classes]
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.clone(), batch.targets.clone());
        ClassificationOutput::new(loss, logits, batch.targets)
    }
}

impl TrainStep for Vgg {
    type Input = ImageBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: ImageBatch) -> TrainOutput<ClassificationOutput> {
        let item = self.forward_classification(batch);
        let grads = if self.gradient_scale == 1.0 {
            item.loss.backward()
        } else {
            (item.loss.clone() * self.gradient_scale).backward()
        };
        TrainOutput::new(self, grads, item)
    }
}

impl InferenceStep for Vgg {
    type Input = ImageBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: ImageBatch) -> ClassificationOutput {
        self.forward_classification(batch)
    }
}
