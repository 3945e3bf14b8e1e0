//! The per-image pipeline: decode, geometry, augmentation, normalisation.

use rand::RngExt;

use super::folder;
use super::split::Images;
use crate::augment::{self, Crop, Img, Normalize};
use crate::config::{AugmentConfig, DataConfig, Fit, Scale};
use crate::error::DataError;
use crate::util::DataRng;

/// Everything the pipeline needs to turn one stored image into network input.
#[derive(Debug, Clone)]
pub struct Pipeline {
    /// Side of the square output.
    pub image_size: usize,
    /// Channels of the output (1 or 3).
    pub channels: usize,
    /// Grey 28×28 sources: pad or resize to `image_size`.
    pub fit: Fit,
    /// Image folders: shorter side at evaluation before the centre crop.
    pub eval_resize: usize,
    /// Image folders: shorter side before the random crop at training, drawn from
    /// `[min, max]` per image (min = max for a fixed scale).
    pub train_scale: (usize, usize),
    /// Training: standard deviation of the PCA colour shift (0 = off).
    pub color_shift: f64,
    /// Training: zero padding before the random crop.
    pub crop_padding: usize,
    /// Training: random horizontal flips.
    pub hflip: bool,
    /// Normalisation.
    pub normalize: Normalize,
}

impl Pipeline {
    /// Image `i` before any test-time rescale: decoded (image folders), or brought to
    /// `image_size` by `fit` (in-memory data sets).
    pub fn base_image(&self, images: &Images, i: usize) -> Result<Img, DataError> {
        match images {
            Images::Memory(m) => Ok(augment::fit_to(m.image(i), self.image_size, self.fit)),
            Images::Folder(f) => Ok(Img::from_rgb(&folder::decode_rgb(&f.items[i].0)?)),
        }
    }

    /// Writes the centre view of a base image ([`Pipeline::base_image`]) at test scale `q`
    /// into `dst`: shorter side to `q`, the centred `image_size` square, normalised. The one
    /// centre view of evaluation's centre protocol and of `vgg-train predict` (image folders
    /// take the same view in [`Pipeline::apply`], rescaling only the crop's window).
    pub fn write_centre(&self, img: &Img, q: usize, dst: &mut [f32]) {
        let s = self.image_size;
        // In-memory images are already at scale: no copy on evaluation's hot path.
        let rescaled;
        let img = if augment::shorter_side_dims(img.width, img.height, q) == (img.width, img.height)
        {
            img
        } else {
            rescaled = img.resize_shorter(q);
            &rescaled
        };
        let crop = Crop::center(img.height, img.width, s);
        augment::write_normalized(img, crop, s, &self.normalize, &[], self.channels, dst);
    }

    /// Loads image `i` of `images` and writes it into `dst`, augmented when `train`.
    pub fn apply(
        &self,
        images: &Images,
        i: usize,
        train: bool,
        rng: &mut DataRng,
        dst: &mut [f32],
    ) -> Result<(), DataError> {
        let s = self.image_size;
        let mut offset = vec![0f32; self.channels];
        let (img, crop) = match images {
            Images::Memory(m) => {
                let img = augment::fit_to(m.image(i), s, self.fit);
                if !train {
                    self.write_centre(&img, s, dst);
                    return Ok(());
                }
                let crop = Crop::random(s, s, s, self.crop_padding, self.hflip, rng);
                (img, crop)
            }
            Images::Folder(f) => {
                // Straight from the decoder's interleaved pixels into the batch buffer.
                let rgb = folder::decode_rgb(&f.items[i].0)?;
                let shorter = match (train, self.train_scale) {
                    (false, _) => self.eval_resize,
                    (true, (lo, hi)) if lo < hi => rng.random_range(lo..=hi),
                    (true, (lo, _)) => lo,
                };
                let (w, h) = augment::shorter_side_dims(
                    rgb.width() as usize,
                    rgb.height() as usize,
                    shorter,
                );
                let crop = if train {
                    Crop::random(h, w, s, 0, self.hflip, rng)
                } else {
                    Crop::center(h, w, s)
                };
                if train && self.color_shift > 0.0 {
                    offset = augment::pca_color_shift(self.color_shift, rng).to_vec();
                }
                // Only the crop's window is rescaled.
                let window = augment::resize_shorter_crop(&rgb, shorter, crop.top, crop.left, s);
                let at_origin = Crop {
                    top: 0,
                    left: 0,
                    ..crop
                };
                augment::write_normalized_rgb(&window, at_origin, s, &self.normalize, &offset, dst);
                return Ok(());
            }
        };
        if train && self.color_shift > 0.0 && self.channels == 3 {
            offset = augment::pca_color_shift(self.color_shift, rng).to_vec();
        }
        augment::write_normalized(&img, crop, s, &self.normalize, &offset, self.channels, dst);
        Ok(())
    }
}

/// The per-channel normalisation of `cfg` (the data set's statistics unless `data.mean`/`data.std`).
pub fn normalization(cfg: &DataConfig) -> Normalize {
    let (mean, std) = cfg.mean_std();
    let f32s = |v: Vec<f64>| -> Vec<f32> { v.into_iter().map(|x| x as f32).collect() };
    Normalize {
        mean: f32s(mean),
        std: f32s(std),
    }
}

/// The preprocessing of `cfg` and `augment`.
pub fn pipeline(cfg: &DataConfig, augment: &AugmentConfig) -> Pipeline {
    let eval_resize = cfg.eval_resize();
    Pipeline {
        image_size: cfg.image_size,
        channels: cfg.channels,
        fit: cfg.fit,
        eval_resize,
        train_scale: match augment.scale_of(cfg) {
            Scale::Fixed(s) => (s, s),
            Scale::Jitter([lo, hi]) => (lo, hi),
        },
        color_shift: augment.color_shift,
        crop_padding: augment.crop_padding_of(cfg),
        hflip: augment.hflip_on(cfg),
        normalize: normalization(cfg),
    }
}
