//! Unit tests of the parent module.

use super::*;
use rand::SeedableRng;
use rand::rngs::StdRng;

fn ramp(h: usize, w: usize) -> Img {
    Img {
        channels: 1,
        height: h,
        width: w,
        data: (0..h * w).map(|i| i as u8).collect(),
    }
}

fn assert_close(got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-4, "{got:?} != {want:?}");
    }
}

fn identity(c: usize) -> Normalize {
    Normalize {
        mean: vec![0.0; c],
        std: vec![1.0 / 255.0; c],
    }
}

#[test]
fn pad_fit_centres_28_in_32() {
    let img = fit_to(ramp(28, 28), 32, Fit::Pad);
    assert_eq!((img.height, img.width), (32, 32));
    assert_eq!(img.data[0], 0);
    assert_eq!(img.data[2 * 32 + 2], 0); // first source pixel (value 0) at (2, 2)
    assert_eq!(img.data[2 * 32 + 3], 1);
    assert_eq!(img.data[31 * 32 + 31], 0);
}

#[test]
fn resize_fit_gives_the_requested_size() {
    let img = fit_to(ramp(28, 28), 64, Fit::Resize);
    assert_eq!((img.height, img.width, img.data.len()), (64, 64, 64 * 64));
}

#[test]
fn center_crop_without_padding_copies_the_middle() {
    let img = ramp(6, 6);
    let mut out = vec![0.0; 4];
    write_normalized(
        &img,
        Crop::center(6, 6, 2),
        2,
        &identity(1),
        &[],
        1,
        &mut out,
    );
    assert_close(&out, &[14.0, 15.0, 20.0, 21.0]);
}

#[test]
fn geometry_matches_torchvisions_resize_and_center_crop() {
    // Resize(256): the long side rounded down (640×427 → 383, not 384).
    assert_eq!(shorter_side_dims(640, 427, 256), (383, 256));
    assert_eq!(shorter_side_dims(500, 375, 256), (341, 256));
    assert_eq!(shorter_side_dims(375, 500, 256), (256, 341));
    // CenterCrop(224): round((343 - 224) / 2) = round(59.5) = 60 (ties to even), and
    // round(58.5) = 58.
    assert_eq!(Crop::center(256, 343, 224).left, 60);
    assert_eq!(Crop::center(256, 341, 224).left, 58);
    assert_eq!(Crop::center(256, 341, 224).top, 16);
}

#[test]
fn padded_crop_fills_zeros_and_flip_mirrors() {
    let img = ramp(2, 2); // [[0, 1], [2, 3]]
    let crop = Crop {
        top: 0,
        left: 0,
        pad: 1,
        flip: false,
    };
    let mut out = vec![9.0; 9];
    write_normalized(&img, crop, 3, &identity(1), &[], 1, &mut out);
    assert_close(&out, &[0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 2.0, 3.0]);
    let mut out = vec![9.0; 4];
    let flip = Crop {
        top: 0,
        left: 0,
        pad: 0,
        flip: true,
    };
    write_normalized(&img, flip, 2, &identity(1), &[], 1, &mut out);
    assert_close(&out, &[1.0, 0.0, 3.0, 2.0]);
}

#[test]
fn grey_is_replicated_to_three_normalised_channels() {
    let img = ramp(1, 1);
    let norm = Normalize {
        mean: vec![0.0, 0.5, 1.0],
        std: vec![1.0, 0.5, 0.25],
    };
    let mut out = vec![0.0; 3];
    write_normalized(&img, Crop::center(1, 1, 1), 1, &norm, &[], 3, &mut out);
    assert_close(&out, &[0.0, -1.0, -4.0]);
}

#[test]
fn random_crops_stay_inside_the_padded_frame_and_depend_only_on_the_seed() {
    let mut a = StdRng::seed_from_u64(1);
    let mut b = StdRng::seed_from_u64(1);
    for _ in 0..200 {
        let ca = Crop::random(32, 32, 32, 4, true, &mut a);
        assert!(ca.top <= 8 && ca.left <= 8);
        assert_eq!(ca, Crop::random(32, 32, 32, 4, true, &mut b));
    }
}

#[test]
fn pca_colour_shift_is_zero_mean_with_the_eigen_spread() {
    let mut rng = StdRng::seed_from_u64(3);
    let n = 20000;
    let shifts: Vec<[f32; 3]> = (0..n).map(|_| pca_color_shift(0.1, &mut rng)).collect();
    for c in 0..3 {
        let mean = shifts.iter().map(|s| s[c] as f64).sum::<f64>() / n as f64;
        let var = shifts
            .iter()
            .map(|s| (s[c] as f64 - mean).powi(2))
            .sum::<f64>()
            / n as f64;
        // Var = sigma^2 * sum_j (eigvec[c][j] * eigval[j])^2.
        let expect: f64 = (0..3)
            .map(|j| (IMAGENET_EIGVEC[c][j] * IMAGENET_EIGVAL[j]) as f64)
            .map(|v| 0.01 * v * v)
            .sum();
        assert!(mean.abs() < 0.001, "channel {c} mean {mean}");
        assert!(
            (var / expect - 1.0).abs() < 0.05,
            "channel {c}: {var} vs {expect}"
        );
    }
    assert_eq!(pca_color_shift(0.0, &mut rng), [0.0; 3]);
}

#[test]
fn offset_shifts_pixels_before_normalisation() {
    let img = ramp(1, 1);
    let mut out = vec![0.0; 1];
    let norm = Normalize {
        mean: vec![0.0],
        std: vec![1.0],
    };
    write_normalized(&img, Crop::center(1, 1, 1), 1, &norm, &[0.25], 1, &mut out);
    assert_close(&out, &[0.25]);
}

#[test]
fn every_writer_gives_the_normalisation_formula_bit_for_bit() {
    let rgb = RgbImage::from_fn(6, 5, |x, y| image::Rgb([(x * 40) as u8, (y * 50) as u8, 7]));
    let img = Img::from_rgb(&rgb);
    let norm = Normalize {
        mean: vec![0.485, 0.456, 0.406],
        std: vec![0.229, 0.224, 0.225],
    };
    let offset = [0.013, -0.002, 0.0];
    // The formula, written out: zero outside the image, mirrored columns when flipped.
    let reference = |c: usize, sy: isize, sx: isize, offset: &[f32]| {
        let v = if (0..5).contains(&sy) && (0..6).contains(&sx) {
            rgb.get_pixel(sx as u32, sy as u32)[c]
        } else {
            0
        };
        let mean = norm.mean[c] - offset.get(c).copied().unwrap_or(0.0);
        (v as f32 / 255.0 - mean) / norm.std[c]
    };
    for flip in [false, true] {
        let crop = Crop {
            top: 0,
            left: 3,
            pad: 2,
            flip,
        };
        let mut got = vec![0.0; 3 * 16];
        write_normalized(&img, crop, 4, &norm, &offset, 3, &mut got);
        for (i, g) in got.iter().enumerate() {
            let (c, y, x) = (i / 16, i / 4 % 4, i % 4);
            let xx = if flip { 3 - x } else { x };
            let want = reference(c, y as isize - 2, (3 + xx) as isize - 2, &offset);
            assert_eq!(
                g.to_bits(),
                want.to_bits(),
                "padded crop, channel {c} ({y}, {x})"
            );
        }
        let mut full = vec![0.0; 3 * 30];
        write_normalized_full(&img, flip, &norm, 3, &mut full);
        for (i, g) in full.iter().enumerate() {
            let (c, y, x) = (i / 30, i / 6 % 5, i % 6);
            let sx = if flip { 5 - x } else { x };
            let want = reference(c, y as isize, sx as isize, &[]);
            assert_eq!(
                g.to_bits(),
                want.to_bits(),
                "full image, channel {c} ({y}, {x})"
            );
        }
        let inside = Crop {
            pad: 0,
            top: 1,
            ..crop
        };
        let mut interleaved = vec![0.0; 3 * 9];
        write_normalized_rgb(&rgb, inside, 3, &norm, &offset, &mut interleaved);
        for (i, g) in interleaved.iter().enumerate() {
            let (c, y, x) = (i / 9, i / 3 % 3, i % 3);
            let xx = if flip { 2 - x } else { x };
            let want = reference(c, (1 + y) as isize, (3 + xx) as isize, &offset);
            assert_eq!(
                g.to_bits(),
                want.to_bits(),
                "interleaved, channel {c} ({y}, {x})"
            );
        }
    }
}

#[test]
fn interleaved_normalisation_equals_the_planar_path() {
    let rgb = RgbImage::from_fn(9, 7, |x, y| {
        image::Rgb([(x * 20) as u8, (y * 30) as u8, 200])
    });
    let norm = Normalize {
        mean: vec![0.4, 0.5, 0.6],
        std: vec![0.2, 0.25, 0.3],
    };
    for flip in [false, true] {
        let crop = Crop {
            top: 2,
            left: 3,
            pad: 0,
            flip,
        };
        let (mut a, mut b) = (vec![0.0; 3 * 16], vec![0.0; 3 * 16]);
        write_normalized_rgb(&rgb, crop, 4, &norm, &[0.01, 0.0, -0.02], &mut a);
        write_normalized(
            &Img::from_rgb(&rgb),
            crop,
            4,
            &norm,
            &[0.01, 0.0, -0.02],
            3,
            &mut b,
        );
        assert_close(&a, &b);
    }
}

#[test]
fn resizing_only_the_crop_equals_cropping_the_full_resize() {
    let rgb = RgbImage::from_fn(500, 375, |x, y| {
        image::Rgb([
            (x * 3 + y) as u8,
            ((y * 7) ^ x) as u8,
            ((x * y) % 253) as u8,
        ])
    });
    let full = resize_shorter(&rgb, 256);
    assert_eq!(full.dimensions(), (341, 256));
    for (top, left) in [(0, 0), (16, 58), (32, 117)] {
        let window = resize_shorter_crop(&rgb, 256, top, left, 224);
        let cropped =
            image::imageops::crop_imm(&full, left as u32, top as u32, 224, 224).to_image();
        let worst = window
            .as_raw()
            .iter()
            .zip(cropped.as_raw())
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        assert!(worst <= 1, "crop at ({top}, {left}): off by {worst}");
    }
}

#[test]
fn planar_and_interleaved_resizes_agree_pixel_for_pixel() {
    let rgb = RgbImage::from_fn(97, 61, |x, y| {
        image::Rgb([(x * 5 + y) as u8, (y * 7) as u8, ((x * y) % 251) as u8])
    });
    for shorter in [32, 40, 200] {
        let interleaved = Img::from_rgb(&resize_shorter(&rgb, shorter));
        let planar = Img::from_rgb(&rgb).resize_shorter(shorter);
        assert_eq!(interleaved, planar, "shorter side {shorter}");
    }
}

#[test]
fn resize_shorter_keeps_the_aspect_ratio() {
    let img = RgbImage::new(300, 200);
    let out = resize_shorter(&img, 100);
    assert_eq!(out.dimensions(), (150, 100));
}
