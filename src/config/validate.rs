//! [`Experiment::validate`]: values that parse but cannot work are refused, naming the key and
//! the fix.

use std::path::Path;

use super::*;
use crate::error::ConfigError;

impl Experiment {
    /// Rejects values that parse but cannot work; the error names the key and the fix.
    pub fn validate(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |key: &str, value: String, message: &str| {
            Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                key: key.into(),
                value,
                message: message.into(),
            })
        };
        if self.name.is_empty()
            || self
                .name
                .chars()
                .any(|c| c == '/' || c == '\\' || c.is_control())
            || self.name == "."
            || self.name == ".."
        {
            return bad(
                "name",
                format!("{:?}", self.name),
                "use a plain directory name (letters, digits, '-', '_', '.')",
            );
        }
        let m = &self.model;
        if !(m.width > 0.0 && m.width.is_finite()) {
            return bad(
                "model.width",
                m.width.to_string(),
                "must be > 0 (1.0 = the paper's widths)",
            );
        }
        if !(0.0..1.0).contains(&m.dropout) {
            return bad("model.dropout", m.dropout.to_string(), "must be in [0, 1)");
        }
        if m.hidden_layers > 0 && m.hidden == 0 {
            return bad(
                "model.hidden",
                "0".into(),
                "must be > 0 when model.hidden_layers > 0",
            );
        }
        if m.lrn.size == 0 || m.lrn.alpha < 0.0 || m.lrn.k <= 0.0 {
            return bad(
                "model.lrn",
                format!("{:?}", m.lrn),
                "needs size >= 1, alpha >= 0 and k > 0 (the paper: size 5, alpha 1e-4, beta 0.75, k 2)",
            );
        }
        if m.lrn.size.is_multiple_of(2) {
            return bad(
                "model.lrn.size",
                m.lrn.size.to_string(),
                "must be odd: an even window is centred differently in burn and PyTorch, so the exported model would compute something else (the paper: 5)",
            );
        }
        if m.in_channels != 0 && m.in_channels != self.data.channels {
            return bad(
                "model.in_channels",
                m.in_channels.to_string(),
                "must equal data.channels (or be left out)",
            );
        }
        let d = &self.data;
        if d.image_size < MIN_IMAGE_SIZE {
            return bad(
                "data.image_size",
                d.image_size.to_string(),
                "too small for the five 2x2 max-pools; use at least 32",
            );
        }
        if d.channels != 1 && d.channels != 3 {
            return bad("data.channels", d.channels.to_string(), "must be 1 or 3");
        }
        if matches!(
            d.dataset,
            DatasetKind::Cifar10 | DatasetKind::Cifar100 | DatasetKind::ImageFolder
        ) && d.channels != 3
        {
            return bad(
                "data.channels",
                d.channels.to_string(),
                "colour data sets need 3",
            );
        }
        for (key, v) in [("data.mean", &d.mean), ("data.std", &d.std)] {
            if !v.is_empty() && v.len() != d.channels {
                return bad(
                    key,
                    format!("{v:?}"),
                    "give one value per channel (data.channels)",
                );
            }
        }
        if d.std.iter().any(|s| *s <= 0.0) {
            return bad("data.std", format!("{:?}", d.std), "every std must be > 0");
        }
        if d.resize != 0 && d.resize < d.image_size {
            return bad(
                "data.resize",
                d.resize.to_string(),
                &format!(
                    "must be at least data.image_size ({}): the evaluation crop is cut from the image rescaled to it (0 = image_size * 8 / 7)",
                    d.image_size
                ),
            );
        }
        match d.val_split {
            Some(ValSplit::Fraction(f)) if !(0.0..1.0).contains(&f) => {
                return bad(
                    "data.val_split",
                    f.to_string(),
                    "a fraction must be in [0, 1), e.g. 0.1; or give a count of images",
                );
            }
            _ => {}
        }
        if d.effective_val_split().is_none() && d.test_limit != 0 && d.test_limit != d.val_limit {
            return bad(
                "data.test_limit",
                d.test_limit.to_string(),
                "with data.val_split = 0 the test split is the validation split: set data.val_limit",
            );
        }
        let t = &self.train;
        let a = &self.augment;
        if let Scale::Jitter([lo, hi]) = a.scale
            && (lo > hi || lo < d.image_size)
        {
            return bad(
                "augment.scale",
                format!("[{lo}, {hi}]"),
                "needs image_size <= min <= max, e.g. [256, 512] for 224 crops",
            );
        }
        if let Scale::Fixed(s) = a.scale
            && s != 0
            && s < d.image_size
        {
            return bad(
                "augment.scale",
                s.to_string(),
                "must be at least data.image_size (the crop must fit)",
            );
        }
        if !(a.color_shift >= 0.0 && a.color_shift.is_finite()) {
            return bad(
                "augment.color_shift",
                a.color_shift.to_string(),
                "must be >= 0 (the paper: 0.1)",
            );
        }
        if a.color_shift > 0.0 && d.channels != 3 {
            return bad(
                "augment.color_shift",
                a.color_shift.to_string(),
                "needs 3 channels",
            );
        }
        if t.epochs == 0 {
            return bad("train.epochs", "0".into(), "must be >= 1");
        }
        if t.batch_size == 0 {
            return bad("train.batch_size", "0".into(), "must be >= 1");
        }
        if !(t.lr > 0.0 && t.lr.is_finite()) {
            return bad(
                "train.lr",
                t.lr.to_string(),
                "must be > 0 (the paper: 0.01)",
            );
        }
        if !(0.0..1.0).contains(&t.momentum) {
            return bad(
                "train.momentum",
                t.momentum.to_string(),
                "must be in [0, 1)",
            );
        }
        if !(t.weight_decay >= 0.0 && t.weight_decay.is_finite()) {
            return bad(
                "train.weight_decay",
                t.weight_decay.to_string(),
                "must be >= 0",
            );
        }
        if !(t.gamma > 0.0 && t.gamma <= 1.0) {
            return bad("train.gamma", t.gamma.to_string(), "must be in (0, 1]");
        }
        if t.schedule == Schedule::Step && t.step_epochs == 0 {
            return bad(
                "train.step_epochs",
                "0".into(),
                "must be >= 1 for the step schedule",
            );
        }
        if t.schedule == Schedule::Plateau && t.patience == 0 {
            return bad(
                "train.patience",
                "0".into(),
                "must be >= 1 for the plateau schedule",
            );
        }
        if t.min_lr < 0.0 || t.min_lr > t.lr {
            return bad(
                "train.min_lr",
                t.min_lr.to_string(),
                "must be in [0, train.lr]",
            );
        }
        self.validate_eval(path)?;
        super::ranges::check_ranges(self, path)
    }

    fn validate_eval(&self, path: &Path) -> Result<(), ConfigError> {
        let bad = |key: &str, value: String, message: String| {
            Err(ConfigError::Invalid {
                path: path.to_path_buf(),
                key: key.into(),
                value,
                message,
            })
        };
        let e = &self.eval;
        if e.protocols.is_empty() {
            return bad(
                "eval.protocols",
                "[]".into(),
                "list at least one: center, dense, multi-scale, multi-crop, multi-crop+dense (the default: [\"center\"])".into(),
            );
        }
        let size = self.data.image_size;
        if let Some(q) = e.scales.iter().find(|q| **q < size) {
            return bad(
                "eval.scales",
                format!("{:?}", e.scales),
                format!("every Q must be at least data.image_size ({size}); {q} is smaller"),
            );
        }
        let paper_head = self.model.head == Head::Paper;
        if paper_head && size < 224 && e.protocols.iter().any(|p| p.is_dense()) {
            return bad(
                "eval.protocols",
                format!("{:?}", e.protocols.iter().map(|p| p.name()).collect::<Vec<_>>()),
                "dense evaluation turns FC-6 into a 7x7 conv, which needs data.image_size >= 224 with the paper head; use center or multi-crop".into(),
            );
        }
        Ok(())
    }
}
