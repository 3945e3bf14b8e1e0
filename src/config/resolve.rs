//! From the experiment as written to the experiment that runs: every key a config may leave
//! implicit (`0`, `[]`, absent) gets its value here, from the data set's facts
//! ([`DatasetKind::facts`]), and nowhere else. [`Experiment::load`] resolves, so the commands
//! and a run directory's `config.toml` see what runs; an old `config.toml` that still holds the
//! implicit forms is filled from the same defaults when read.

use std::path::PathBuf;

use super::{
    AugmentConfig, DataConfig, DatasetKind, EvalConfig, Experiment, Scale, TrainConfig, ValSplit,
};

impl DataConfig {
    /// `data.path`, or the data set's default location.
    pub fn resolved_path(&self) -> PathBuf {
        if self.path.as_os_str().is_empty() {
            PathBuf::from(self.dataset.facts().default_path)
        } else {
            self.path.clone()
        }
    }

    /// `data.val_split`, or the data set's default (10 % held out of Fashion-MNIST, MNIST
    /// and CIFAR, none of image folders).
    pub fn effective_val_split(&self) -> ValSplit {
        self.val_split.unwrap_or(self.dataset.facts().val_split)
    }

    /// The shorter side of an image folder's images before the centre crop at evaluation:
    /// `data.resize`, or 8/7 of the crop (256 for 224).
    pub fn eval_resize(&self) -> usize {
        if self.resize == 0 {
            self.image_size * 8 / 7
        } else {
            self.resize
        }
    }

    /// Per-channel mean and standard deviation: `data.mean` and `data.std`, or the data set's
    /// statistics for `data.channels`.
    pub fn mean_std(&self) -> (Vec<f64>, Vec<f64>) {
        let (mean, std) = self.dataset.facts().stats_for(self.channels);
        let given =
            |v: &Vec<f64>, default: Vec<f64>| if v.is_empty() { default } else { v.clone() };
        (given(&self.mean, mean), given(&self.std, std))
    }
}

impl AugmentConfig {
    /// Whether training flips at random: `augment.hflip`, or the data set's default.
    pub fn hflip_on(&self, data: &DataConfig) -> bool {
        self.hflip.unwrap_or(data.dataset.facts().hflip)
    }

    /// The pad-then-crop of training: `augment.crop_padding`, or the data set's default.
    pub fn crop_padding_of(&self, data: &DataConfig) -> usize {
        self.crop_padding
            .unwrap_or(data.dataset.facts().crop_padding)
    }

    /// The training scale S: `augment.scale`, its `0` meaning `data.resize`.
    pub fn scale_of(&self, data: &DataConfig) -> Scale {
        match self.scale {
            Scale::Fixed(0) => Scale::Fixed(data.eval_resize()),
            s => s,
        }
    }
}

impl EvalConfig {
    /// Images per forward pass at evaluation: `eval.batch_size`, or `train.batch_size`.
    pub fn batch_size_of(&self, train: &TrainConfig) -> usize {
        if self.batch_size == 0 {
            train.batch_size
        } else {
            self.batch_size
        }
    }
}

impl Experiment {
    /// Gives every implicit key its value: data path, validation split, mean and std, flip,
    /// crop padding, eval batch size, the network's input channels, an image folder's eval
    /// resize and training scale, and, for data sets that fix it, the classes (an image folder's are its class folders:
    /// see [`Experiment::with_classes`]). Resolving twice changes nothing.
    pub fn resolve(&mut self) {
        let d = &self.data;
        let path = d.resolved_path();
        let val_split = d.effective_val_split();
        let (mean, std) = d.mean_std();
        let hflip = self.augment.hflip_on(d);
        let crop_padding = self.augment.crop_padding_of(d);
        let classes = d.dataset.facts().classes;
        // Rescaling applies to image folders only: the other sets keep `0` (not used).
        if d.dataset == DatasetKind::ImageFolder {
            self.augment.scale = self.augment.scale_of(d);
            self.data.resize = d.eval_resize();
        }
        self.data.path = path;
        self.data.val_split = Some(val_split);
        self.data.mean = mean;
        self.data.std = std;
        self.augment.hflip = Some(hflip);
        self.augment.crop_padding = Some(crop_padding);
        self.eval.batch_size = self.eval.batch_size_of(&self.train);
        if self.model.in_channels == 0 {
            self.model.in_channels = self.data.channels;
        }
        if let Some(classes) = classes
            && self.model.num_classes == 0
        {
            self.model.num_classes = classes;
        }
    }

    /// The experiment with `model.num_classes` set to the data's count where the config left
    /// it to the data (an image folder's class folders).
    pub fn with_classes(&self, data_classes: usize) -> Experiment {
        let mut e = self.clone();
        if e.model.num_classes == 0 {
            e.model.num_classes = data_classes;
        }
        e
    }

    /// The experiment with every key that holds its default written in its implicit form
    /// (`0`, `[]`, absent), as configs were saved before they were resolved: the canonical
    /// text [`Experiment::recipe_hash`] hashes, the same for a key left implicit and one
    /// written out with its default value. `data.val_split` is written out, as it always was
    /// saved. An image folder's classes stay as they are (its default is its data's count).
    pub fn with_implicit_defaults(&self) -> Experiment {
        // What the resolvers give each key when it is left implicit.
        let implicit = Experiment {
            data: DataConfig {
                path: PathBuf::new(),
                resize: 0,
                mean: Vec::new(),
                std: Vec::new(),
                ..self.data.clone()
            },
            augment: AugmentConfig {
                hflip: None,
                crop_padding: None,
                scale: Scale::Fixed(0),
                ..self.augment.clone()
            },
            ..self.clone()
        };
        let d = &implicit.data;
        let mut e = self.clone();
        e.data.val_split = Some(e.data.effective_val_split());
        if e.augment.scale == Scale::Fixed(e.data.eval_resize()) {
            e.augment.scale = Scale::Fixed(0);
        }
        if e.data.path == d.resolved_path() {
            e.data.path = PathBuf::new();
        }
        if e.data.resize == d.eval_resize() {
            e.data.resize = 0;
        }
        let (mean, std) = d.mean_std();
        if e.data.mean == mean {
            e.data.mean = Vec::new();
        }
        if e.data.std == std {
            e.data.std = Vec::new();
        }
        if e.augment.hflip == Some(implicit.augment.hflip_on(d)) {
            e.augment.hflip = None;
        }
        if e.augment.crop_padding == Some(implicit.augment.crop_padding_of(d)) {
            e.augment.crop_padding = None;
        }
        if e.eval.batch_size == e.train.batch_size {
            e.eval.batch_size = 0;
        }
        if e.model.in_channels == e.data.channels {
            e.model.in_channels = 0;
        }
        if d.dataset.facts().classes == Some(e.model.num_classes) {
            e.model.num_classes = 0;
        }
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fashion() -> Experiment {
        let mut e = Experiment::default();
        e.data.dataset = DatasetKind::FashionMnist;
        e.data.channels = 1;
        e.data.image_size = 32;
        e
    }

    #[test]
    fn resolving_writes_out_every_default_of_the_data_set() {
        let mut e = fashion();
        e.resolve();
        assert_eq!(
            e.data.path,
            PathBuf::from(super::super::DEBIAN_FASHION_MNIST)
        );
        assert_eq!(e.data.val_split, Some(ValSplit::Fraction(0.1)));
        assert_eq!(
            (e.data.mean.clone(), e.data.std.clone()),
            (vec![0.2860], vec![0.3530])
        );
        assert_eq!(e.augment.hflip, Some(false));
        assert_eq!(e.augment.crop_padding, Some(0));
        assert_eq!(e.eval.batch_size, e.train.batch_size);
        assert_eq!((e.model.in_channels, e.model.num_classes), (1, 10));
        // Rescaling is an image folder's: not used here, left at 0.
        assert_eq!((e.data.resize, e.augment.scale), (0, Scale::Fixed(0)));
        let again = {
            let mut a = e.clone();
            a.resolve();
            a
        };
        assert_eq!(again, e, "resolving twice changes nothing");
    }

    #[test]
    fn an_image_folder_resolves_its_rescaling_and_leaves_its_classes_to_its_folders() {
        let mut e = Experiment::default();
        e.resolve();
        assert_eq!((e.data.resize, e.augment.scale), (256, Scale::Fixed(256)));
        assert_eq!(e.data.mean, [0.485, 0.456, 0.406]);
        assert_eq!(e.augment.hflip, Some(true));
        assert_eq!(e.model.num_classes, 0);
        let e = e.with_classes(100);
        assert_eq!(e.model.num_classes, 100);
        assert_eq!(
            e.with_classes(7).model.num_classes,
            100,
            "a count once set stays"
        );
    }

    #[test]
    fn the_implicit_form_of_a_resolved_experiment_is_the_experiment_as_written() {
        let cifar = {
            let mut e = Experiment::default();
            e.data.dataset = DatasetKind::Cifar100;
            e.data.image_size = 32;
            e
        };
        let jittered = {
            let mut e = Experiment::default();
            e.augment.scale = Scale::Jitter([256, 512]);
            e.data.resize = 384;
            e
        };
        for written in [fashion(), cifar, jittered, Experiment::default()] {
            let mut resolved = written.clone();
            resolved.resolve();
            let mut expected = written.clone();
            // The validation split was always saved explicitly.
            expected.data.val_split = resolved.data.val_split;
            assert_eq!(resolved.with_implicit_defaults(), expected);
            assert_eq!(resolved.recipe_hash(), written.recipe_hash());
        }
    }

    #[test]
    fn a_default_written_out_is_the_same_recipe_as_one_left_implicit_and_another_value_is_not() {
        let implicit = fashion();
        let mut explicit = fashion();
        explicit.augment.hflip = Some(false);
        explicit.data.mean = vec![0.2860];
        assert_eq!(implicit.recipe_hash(), explicit.recipe_hash());
        explicit.augment.hflip = Some(true);
        assert_ne!(implicit.recipe_hash(), explicit.recipe_hash());
    }
}
