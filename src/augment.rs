//! Preprocessing and augmentation as pure functions of (image, rng).
//!
//! Images travel as 8-bit planar [`Img`]s until [`write_normalized`] crops, flips, normalises
//! and writes them as `f32` into the batch buffer in one pass.

use fast_image_resize::PixelType;
use image::imageops::{self, FilterType};
use image::{GrayImage, RgbImage};
use rand::{Rng, RngExt};

use crate::config::Fit;

/// An 8-bit image, planar: `data[c * height * width + y * width + x]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Img {
    /// Channels (1 or 3).
    pub channels: usize,
    /// Rows.
    pub height: usize,
    /// Columns.
    pub width: usize,
    /// Planar pixels.
    pub data: Vec<u8>,
}

impl Img {
    /// Planar copy of an interleaved RGB image.
    pub fn from_rgb(img: &RgbImage) -> Img {
        let (w, h) = (img.width() as usize, img.height() as usize);
        let mut data = vec![0u8; 3 * h * w];
        for (i, px) in img.pixels().enumerate() {
            for c in 0..3 {
                data[c * h * w + i] = px.0[c];
            }
        }
        Img {
            channels: 3,
            height: h,
            width: w,
            data,
        }
    }

    fn plane(&self, c: usize) -> &[u8] {
        let n = self.height * self.width;
        &self.data[c * n..(c + 1) * n]
    }

    /// Isotropic rescale: the shorter side becomes `shorter` (bilinear, antialiased), each
    /// plane resized exactly as [`resize_shorter`] resizes the interleaved image.
    pub fn resize_shorter(&self, shorter: usize) -> Img {
        let (nw, nh) = shorter_side_dims(self.width, self.height, shorter);
        if (nw, nh) == (self.width, self.height) {
            return self.clone();
        }
        let mut data = Vec::with_capacity(self.channels * nh * nw);
        for c in 0..self.channels {
            let plane = resize_u8(
                self.plane(c),
                self.width,
                self.height,
                nw,
                nh,
                PixelType::U8,
            );
            data.extend_from_slice(&plane);
        }
        Img {
            channels: self.channels,
            height: nh,
            width: nw,
            data,
        }
    }
}

/// Output size `(width, height)` of an isotropic rescale whose shorter side becomes `shorter`.
///
/// The longer side is `shorter · long / short` rounded down, as torchvision's `Resize(int)`
/// computes it, so evaluation sees the pixels torchvision's weights were measured on.
pub fn shorter_side_dims(width: usize, height: usize, shorter: usize) -> (usize, usize) {
    let long = |a: usize, b: usize| (shorter * a / b).max(shorter);
    if width <= height {
        (shorter, long(height, width))
    } else {
        (long(width, height), shorter)
    }
}

/// Bilinear, antialiased resize of interleaved 8-bit pixels with SIMD (AVX2/SSE4.1/Neon),
/// the same filter as PIL's and torchvision's antialiased bilinear `Resize`.
fn resize_u8(src: &[u8], w: usize, h: usize, nw: usize, nh: usize, pixel: PixelType) -> Vec<u8> {
    resize_u8_window(src, (w, h), (nw, nh), (0, 0, nw, nh), pixel)
}

/// The `(left, top, width, height)` window of the `nw`×`nh` resize of a `w`×`h` image,
/// computed alone: the filter still reads the source pixels around the window, so the result
/// equals cropping the full resize.
fn resize_u8_window(
    src: &[u8],
    (w, h): (usize, usize),
    (nw, nh): (usize, usize),
    (left, top, width, height): (usize, usize, usize, usize),
    pixel: PixelType,
) -> Vec<u8> {
    use fast_image_resize::images::{Image, ImageRef};
    use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
    thread_local! {
        static RESIZER: std::cell::RefCell<Resizer> = std::cell::RefCell::new(Resizer::new());
    }
    let src = ImageRef::new(w as u32, h as u32, src, pixel).expect("buffer holds w*h pixels");
    let mut dst = Image::new(width as u32, height as u32, pixel);
    let (sx, sy) = (w as f64 / nw as f64, h as f64 / nh as f64);
    // The window in source pixels; rounding must not push its far edge past the image.
    let (x0, y0) = (left as f64 * sx, top as f64 * sy);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
        .crop(
            x0,
            y0,
            (width as f64 * sx).min(w as f64 - x0),
            (height as f64 * sy).min(h as f64 - y0),
        );
    RESIZER.with(|r| {
        r.borrow_mut()
            .resize(&src, &mut dst, &options)
            .expect("equal pixel types and a window clamped inside the source")
    });
    dst.into_vec()
}

/// Brings an image to `size`×`size`: zero-padding around the centre when it is smaller and
/// `fit` is [`Fit::Pad`], a bilinear resize otherwise.
pub fn fit_to(img: Img, size: usize, fit: Fit) -> Img {
    if img.height == size && img.width == size {
        return img;
    }
    if fit == Fit::Pad && img.height <= size && img.width <= size {
        let (top, left) = ((size - img.height) / 2, (size - img.width) / 2);
        let mut data = vec![0u8; img.channels * size * size];
        for c in 0..img.channels {
            let src = img.plane(c);
            for y in 0..img.height {
                let dst = c * size * size + (top + y) * size + left;
                data[dst..dst + img.width]
                    .copy_from_slice(&src[y * img.width..(y + 1) * img.width]);
            }
        }
        return Img {
            channels: img.channels,
            height: size,
            width: size,
            data,
        };
    }
    let mut data = Vec::with_capacity(img.channels * size * size);
    for c in 0..img.channels {
        let plane = GrayImage::from_raw(img.width as u32, img.height as u32, img.plane(c).to_vec())
            .expect("plane length is width * height");
        let resized = imageops::resize(&plane, size as u32, size as u32, FilterType::Triangle);
        data.extend_from_slice(resized.as_raw());
    }
    Img {
        channels: img.channels,
        height: size,
        width: size,
        data,
    }
}

/// Isotropic rescale: the shorter side becomes `shorter` (bilinear, antialiased).
pub fn resize_shorter(img: &RgbImage, shorter: usize) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (nw, nh) = shorter_side_dims(w, h, shorter);
    if (nw, nh) == (w, h) {
        return img.clone();
    }
    let data = resize_u8(img.as_raw(), w, h, nw, nh, PixelType::U8x3);
    RgbImage::from_raw(nw as u32, nh as u32, data).expect("resize output is nw*nh*3 bytes")
}

/// The `size`×`size` crop at (`top`, `left`) of the image rescaled so that its shorter side
/// is `shorter`, without rescaling the rest of the image.
pub fn resize_shorter_crop(
    img: &RgbImage,
    shorter: usize,
    top: usize,
    left: usize,
    size: usize,
) -> RgbImage {
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (nw, nh) = shorter_side_dims(w, h, shorter);
    let data = resize_u8_window(
        img.as_raw(),
        (w, h),
        (nw, nh),
        (left, top, size, size),
        PixelType::U8x3,
    );
    RgbImage::from_raw(size as u32, size as u32, data).expect("resize output is size*size*3 bytes")
}

/// Where a crop of `size` starts, on an image of `height`×`width` padded by `pad` on every
/// side; coordinates are in the padded frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Crop {
    /// First row in the padded frame.
    pub top: usize,
    /// First column in the padded frame.
    pub left: usize,
    /// Padding around the image.
    pub pad: usize,
    /// Mirror left-right.
    pub flip: bool,
}

impl Crop {
    /// The centred crop, no padding, no flip; a half-pixel offset rounds to even, as
    /// torchvision's `CenterCrop` (Python's `round`) does.
    pub fn center(height: usize, width: usize, size: usize) -> Crop {
        let offset =
            |len: usize| (len.saturating_sub(size) as f64 / 2.0).round_ties_even() as usize;
        Crop {
            top: offset(height),
            left: offset(width),
            pad: 0,
            flip: false,
        }
    }

    /// A uniformly random crop of the image padded by `pad`, flipped with probability 1/2 when
    /// `hflip`.
    pub fn random<R: Rng + ?Sized>(
        height: usize,
        width: usize,
        size: usize,
        pad: usize,
        hflip: bool,
        rng: &mut R,
    ) -> Crop {
        let top = rng.random_range(0..=(height + 2 * pad).saturating_sub(size));
        let left = rng.random_range(0..=(width + 2 * pad).saturating_sub(size));
        let flip = hflip && rng.random_bool(0.5);
        Crop {
            top,
            left,
            pad,
            flip,
        }
    }
}

/// Per-channel normalisation: `(v / 255 - mean) / std`.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalize {
    /// Mean per channel in [0, 1].
    pub mean: Vec<f32>,
    /// Standard deviation per channel in [0, 1].
    pub std: Vec<f32>,
}

/// Eigenvalues of the RGB covariance of ImageNet pixels in [0, 1] (as used by AlexNet-style
/// PCA lighting noise; values from fb.resnet.torch).
pub const IMAGENET_EIGVAL: [f32; 3] = [0.2175, 0.0188, 0.0045];
/// The matching eigenvectors, one per column.
pub const IMAGENET_EIGVEC: [[f32; 3]; 3] = [
    [-0.5675, 0.7192, 0.4009],
    [-0.5808, -0.0045, -0.8140],
    [-0.5836, -0.6948, 0.4203],
];

/// AlexNet's colour augmentation (Krizhevsky et al. §4.1): the per-channel offset
/// `Σ_j eigvec[c][j] · α_j · λ_j` with `α_j ~ N(0, sigma)`, in [0, 1] units.
pub fn pca_color_shift<R: Rng + ?Sized>(sigma: f64, rng: &mut R) -> [f32; 3] {
    use rand_distr::{Distribution, Normal};
    let normal = Normal::new(0.0f32, sigma as f32).expect("sigma is finite and >= 0");
    let alpha: [f32; 3] = std::array::from_fn(|_| normal.sample(rng));
    std::array::from_fn(|c| {
        (0..3)
            .map(|j| IMAGENET_EIGVEC[c][j] * alpha[j] * IMAGENET_EIGVAL[j])
            .sum()
    })
}

/// The 256 normalised values of channel `c`'s 8-bit pixels, after adding `offset[c]` ([0, 1]
/// units; absent = 0): every normalise writer reads its floats from this one table.
fn channel_lut(norm: &Normalize, offset: &[f32], c: usize) -> [f32; 256] {
    let shift = offset.get(c).copied().unwrap_or(0.0);
    let (mean, std) = (norm.mean[c] - shift, norm.std[c]);
    std::array::from_fn(|v| (v as f32 / 255.0 - mean) / std)
}

/// Crops `size`×`size` at `crop` (zeros outside the image), flips, adds `offset[c]` (in [0, 1]
/// units; empty = none), normalises and writes the result planar into `dst`
/// (`out_channels * size * size` floats). A 1-channel image is replicated when `out_channels`
/// is 3.
pub fn write_normalized(
    img: &Img,
    crop: Crop,
    size: usize,
    norm: &Normalize,
    offset: &[f32],
    out_channels: usize,
    dst: &mut [f32],
) {
    write_planar(img, crop, (size, size), norm, offset, out_channels, dst);
}

/// Normalises the whole image (no crop), mirrored when `flip`, and writes it planar into
/// `dst` (`out_channels * height * width` floats); the input of dense evaluation.
pub fn write_normalized_full(
    img: &Img,
    flip: bool,
    norm: &Normalize,
    out_channels: usize,
    dst: &mut [f32],
) {
    let whole = Crop {
        top: 0,
        left: 0,
        pad: 0,
        flip,
    };
    write_planar(
        img,
        whole,
        (img.height, img.width),
        norm,
        &[],
        out_channels,
        dst,
    );
}

/// The planar writer behind [`write_normalized`] and [`write_normalized_full`]: an
/// `out_h`×`out_w` window at `crop` of the padded frame, zeros outside the image.
fn write_planar(
    img: &Img,
    crop: Crop,
    (out_h, out_w): (usize, usize),
    norm: &Normalize,
    offset: &[f32],
    out_channels: usize,
    dst: &mut [f32],
) {
    debug_assert_eq!(dst.len(), out_channels * out_h * out_w);
    for (oc, out) in dst.chunks_exact_mut(out_h * out_w).enumerate() {
        let lut = channel_lut(norm, offset, oc);
        let zero = lut[0];
        let plane = img.plane(if img.channels == 1 { 0 } else { oc });
        for (y, row) in out.chunks_exact_mut(out_w).enumerate() {
            let sy = (crop.top + y) as isize - crop.pad as isize;
            if sy < 0 || sy >= img.height as isize {
                row.fill(zero);
                continue;
            }
            let src = &plane[sy as usize * img.width..(sy as usize + 1) * img.width];
            for (x, v) in row.iter_mut().enumerate() {
                let xx = if crop.flip { out_w - 1 - x } else { x };
                let sx = (crop.left + xx) as isize - crop.pad as isize;
                *v = if sx < 0 || sx >= img.width as isize {
                    zero
                } else {
                    lut[src[sx as usize] as usize]
                };
            }
        }
    }
}

/// [`write_normalized`] for an interleaved RGB image with the crop inside it (no padding):
/// one pass through the per-channel lookup table, no planar copy.
pub fn write_normalized_rgb(
    img: &RgbImage,
    crop: Crop,
    size: usize,
    norm: &Normalize,
    offset: &[f32],
    dst: &mut [f32],
) {
    let (h, w) = (img.height() as usize, img.width() as usize);
    debug_assert!(crop.pad == 0 && crop.top + size <= h && crop.left + size <= w);
    debug_assert_eq!(dst.len(), 3 * size * size);
    let src = img.as_raw();
    for (c, out) in dst.chunks_exact_mut(size * size).enumerate() {
        let lut = channel_lut(norm, offset, c);
        for (y, row) in out.chunks_exact_mut(size).enumerate() {
            let line = &src[((crop.top + y) * w + crop.left) * 3..][..size * 3];
            let pixels = line.chunks_exact(3).map(|px| lut[px[c] as usize]);
            if crop.flip {
                row.iter_mut().zip(pixels.rev()).for_each(|(v, p)| *v = p);
            } else {
                row.iter_mut().zip(pixels).for_each(|(v, p)| *v = p);
            }
        }
    }
}

#[cfg(test)]
mod tests;
