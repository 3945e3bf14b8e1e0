//! Unit tests of the parent module.

use super::super::layout::{Order, reorder};
use super::*;

/// The definition, loop by loop, on NCHW buffers.
fn naive_conv(x: &[f32], w: &[f32], b: Option<&[f32]>, g: &ConvGeometry) -> Vec<f32> {
    let (h, wd, k) = (g.height as isize, g.width as isize, g.kernel);
    let pad = (k / 2) as isize;
    let mut y = vec![0.0; g.output_len()];
    for n in 0..g.batch {
        for co in 0..g.c_out {
            for i in 0..h {
                for j in 0..wd {
                    let mut s = b.map_or(0.0, |b| b[co]);
                    for ci in 0..g.c_in {
                        for a in 0..k {
                            for c in 0..k {
                                let (si, sj) = (i + a as isize - pad, j + c as isize - pad);
                                if si >= 0 && si < h && sj >= 0 && sj < wd {
                                    let xv = x[((n * g.c_in + ci) as isize * h + si) as usize
                                        * g.width
                                        + sj as usize];
                                    s += xv * w[((co * g.c_in + ci) * k + a) * k + c];
                                }
                            }
                        }
                    }
                    y[((n * g.c_out + co) as isize * h + i) as usize * g.width + j as usize] = s;
                }
            }
        }
    }
    y
}

fn nhwc(x: &[f32], g: &ConvGeometry, c: usize) -> Vec<f32> {
    reorder(x, [g.batch, c, g.height, g.width], Order::Nchw, Order::Nhwc)
}

fn pseudo_random(len: usize, seed: f32) -> Vec<f32> {
    (0..len)
        .map(|i| ((i as f32 + seed) * 12.9898).sin())
        .collect()
}

fn close(a: &[f32], b: &[f32], tol: f32) {
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= tol * (1.0 + y.abs()), "at {i}: {x} vs {y}");
    }
}

#[test]
fn forward_matches_the_definition_for_1x1_3x3_and_5x5_kernels() {
    for (batch, c_in, c_out, height, width, kernel) in [
        (3, 2, 5, 4, 6, 3),
        (1, 3, 2, 1, 1, 3),
        (2, 4, 3, 5, 3, 1),
        (2, 2, 2, 7, 5, 5),
    ] {
        let g = ConvGeometry {
            batch,
            c_in,
            c_out,
            height,
            width,
            kernel,
        };
        let x = pseudo_random(g.input_len(), 1.0);
        let w = pseudo_random(g.weight_len(), 2.0);
        let b = pseudo_random(c_out, 3.0);
        let want = nhwc(&naive_conv(&x, &w, Some(&b), &g), &g, c_out);
        let x = nhwc(&x, &g, c_in);
        close(&forward(&x, &w, Some(&b), &g, false), &want, 1e-5);
        let relu: Vec<f32> = want.iter().map(|v| v.max(0.0)).collect();
        close(&forward(&x, &w, Some(&b), &g, true), &relu, 1e-5);
    }
}

#[test]
fn gradients_match_finite_differences_of_the_definition() {
    for kernel in [1, 3] {
        let g = ConvGeometry {
            batch: 2,
            c_in: 2,
            c_out: 3,
            height: 3,
            width: 4,
            kernel,
        };
        let x = pseudo_random(g.input_len(), 4.0);
        let w = pseudo_random(g.weight_len(), 5.0);
        let b = pseudo_random(g.c_out, 6.0);
        let dy = pseudo_random(g.output_len(), 7.0);
        // L = Σ dy ⊙ (conv(x, w) + b): linear, so central differences are exact up to
        // rounding.
        let loss = |x: &[f32], w: &[f32], b: &[f32]| -> f64 {
            naive_conv(x, w, Some(b), &g)
                .iter()
                .zip(&dy)
                .map(|(y, d)| (*y as f64) * (*d as f64))
                .sum()
        };
        let grads = backward(
            &nhwc(&x, &g, g.c_in),
            &w,
            &nhwc(&dy, &g, g.c_out),
            &g,
            Wanted {
                input: true,
                weight: true,
                bias: true,
            },
        );
        let eps = 1e-2f32;
        let numeric = |v: &[f32], i: usize, f: &dyn Fn(&[f32]) -> f64| -> f32 {
            let (mut up, mut down) = (v.to_vec(), v.to_vec());
            up[i] += eps;
            down[i] -= eps;
            ((f(&up) - f(&down)) / (2.0 * eps as f64)) as f32
        };
        let dx: Vec<f32> = (0..x.len())
            .map(|i| numeric(&x, i, &|x| loss(x, &w, &b)))
            .collect();
        let dw: Vec<f32> = (0..w.len())
            .map(|i| numeric(&w, i, &|w| loss(&x, w, &b)))
            .collect();
        let db: Vec<f32> = (0..b.len())
            .map(|i| numeric(&b, i, &|b| loss(&x, &w, b)))
            .collect();
        close(
            grads.input.as_deref().unwrap(),
            &nhwc(&dx, &g, g.c_in),
            1e-3,
        );
        close(grads.weight.as_deref().unwrap(), &dw, 1e-3);
        close(grads.bias.as_deref().unwrap(), &db, 1e-3);
    }
}

#[test]
fn chunks_of_images_give_the_same_result_as_one_image_at_a_time() {
    // 40 images of 64×64×8: the column matrix exceeds the budget, so the batch is cut.
    let g = ConvGeometry {
        batch: 40,
        c_in: 8,
        c_out: 4,
        height: 64,
        width: 64,
        kernel: 3,
    };
    assert!(g.images_per_chunk() < g.batch);
    let x = pseudo_random(g.input_len(), 8.0);
    let w = pseudo_random(g.weight_len(), 9.0);
    let all = forward(&x, &w, None, &g, false);
    let per_image = g.input_len() / g.batch;
    let out_per_image = g.output_len() / g.batch;
    let one = ConvGeometry { batch: 1, ..g };
    for n in [0, 17, 39] {
        let y = forward(&x[n * per_image..][..per_image], &w, None, &one, false);
        close(&all[n * out_per_image..][..out_per_image], &y, 1e-5);
    }
}

#[test]
fn relu_keeps_nan_and_its_backward_masks_by_the_output() {
    let y = relu(&[-1.0, 0.0, 2.0, f32::NAN]);
    assert_eq!(&y[..3], &[0.0, 0.0, 2.0]);
    assert!(y[3].is_nan());
    let mut dx = vec![5.0, 6.0, 7.0, 8.0];
    mask_relu(&mut dx, &y);
    assert_eq!(dx, vec![0.0, 0.0, 7.0, 8.0]);
}
