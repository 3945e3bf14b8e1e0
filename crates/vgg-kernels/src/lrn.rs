//! Local response normalisation across channels (A-LRN's layer; Krizhevsky et al. 2012, §3.3),
//! forward and backward, on channels-last buffers: a pixel's channels are side by side, so each
//! window is a few neighbouring floats.
//!
//! burn's `LocalResponseNorm` builds the same function from generic ops (square, a transpose to
//! put the channels last, a 1-d average pool over them, a transpose back, a power and a
//! division), each a pass through memory and several single-threaded; in A-LRN at the study's
//! scale that one layer made training 2.2× and inference 3× slower than A's.
//!
//! For channel `i` of a pixel: `d_i = k + α Σ_{j ∈ W(i)} x_j²`, `y_i = x_i · d_i^(−β)`, with
//! `W(i) = i − (n−1)/2 ..= i + n/2` clipped to the channels (burn's and PyTorch's window; `α` in
//! the paper's convention, not divided by `n`). The backward:
//! `dx_m = dy_m · d_m^(−β) − 2αβ · x_m · Σ_{i : m ∈ W(i)} dy_i · y_i / d_i`.

use rayon::prelude::*;

use super::simd::multiversion;

/// Pixels one task works on, at least.
const MIN_PIXELS: usize = 64;

/// The constants of an LRN layer, in the paper's convention.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LrnParams {
    /// Channels in a window (n).
    pub size: usize,
    /// Scale of the window's sum of squares (not divided by `size`).
    pub alpha: f32,
    /// Exponent.
    pub beta: f32,
    /// Additive constant.
    pub k: f32,
}

impl LrnParams {
    /// Channels before and after `i` in `i`'s window.
    fn reach(&self) -> (usize, usize) {
        ((self.size.max(1) - 1) / 2, self.size.max(1) / 2)
    }

    /// `d^(−β)`; `β = 0.75` (the paper's) as two square roots, which is what makes the layer
    /// cheap (a `powf` per value costs more than the rest of it).
    #[inline(always)]
    fn scale(&self, d: f32) -> f32 {
        if self.beta == 0.75 {
            let r = d.sqrt();
            1.0 / (r * r.sqrt())
        } else {
            d.powf(-self.beta)
        }
    }
}

/// `d_i` for each channel of one pixel: `k + α Σ_{j ∈ W(i)} x_j²`.
#[inline(always)]
fn denominators(x: &[f32], p: &LrnParams, d: &mut [f32]) {
    let (before, after) = p.reach();
    let c = x.len();
    for (i, d) in d.iter_mut().enumerate() {
        let window = &x[i.saturating_sub(before)..(i + after + 1).min(c)];
        let sum: f32 = window.iter().map(|v| v * v).sum();
        *d = p.k + p.alpha * sum;
    }
}

/// `y` of the LRN over the channels of each pixel, and `d^(−β)` per value (what the backward
/// needs besides the input).
///
/// # Shapes
/// - `x`: `[pixels, channels]` (channels last)
/// - returns `y` and `d^(−β)`, both `[pixels, channels]`
pub fn forward(x: &[f32], channels: usize, p: &LrnParams) -> (Vec<f32>, Vec<f32>) {
    assert!(
        channels > 0 && x.len().is_multiple_of(channels),
        "lrn: {} values are not pixels of {channels} channels",
        x.len()
    );
    let mut y = vec![0.0f32; x.len()];
    let mut scale = vec![0.0f32; x.len()];
    let block = MIN_PIXELS * channels;
    y.par_chunks_mut(block)
        .zip(scale.par_chunks_mut(block))
        .zip(x.par_chunks(block))
        .for_each(|((y, scale), x)| forward_pixels(x, channels, p, y, scale));
    (y, scale)
}

multiversion! {
    fn forward_pixels(x: &[f32], c: usize, p: &LrnParams, y: &mut [f32], scale: &mut [f32]) {
        for ((x, y), s) in x.chunks_exact(c).zip(y.chunks_exact_mut(c)).zip(scale.chunks_exact_mut(c)) {
            denominators(x, p, s);
            for ((s, y), x) in s.iter_mut().zip(y.iter_mut()).zip(x) {
                *s = p.scale(*s);
                *y = x * *s;
            }
        }
    }
}

/// dL/dx of the LRN given `dy = dL/dy`, its input `x` and the `d^(−β)` its [`forward`] returned.
///
/// # Shapes
/// all `[pixels, channels]`
pub fn backward(dy: &[f32], x: &[f32], scale: &[f32], channels: usize, p: &LrnParams) -> Vec<f32> {
    assert!(
        dy.len() == x.len() && scale.len() == x.len() && channels > 0,
        "lrn backward: {} gradients, {} inputs, {} scales of {channels} channels",
        dy.len(),
        x.len(),
        scale.len()
    );
    let mut dx = vec![0.0f32; x.len()];
    let block = MIN_PIXELS * channels;
    dx.par_chunks_mut(block)
        .zip(dy.par_chunks(block))
        .zip(x.par_chunks(block).zip(scale.par_chunks(block)))
        .for_each(|((dx, dy), (x, scale))| backward_pixels(dy, x, scale, channels, p, dx));
    dx
}

multiversion! {
    fn backward_pixels(dy: &[f32], x: &[f32], scale: &[f32], c: usize, p: &LrnParams, dx: &mut [f32]) {
        let (before, after) = p.reach();
        // t_i = dy_i · y_i / d_i, one pixel at a time (`dx` holds d_i first).
        let mut t = vec![0.0f32; c];
        let pixels = dy.chunks_exact(c).zip(x.chunks_exact(c)).zip(scale.chunks_exact(c));
        for (((dy, x), s), dx) in pixels.zip(dx.chunks_exact_mut(c)) {
            denominators(x, p, dx);
            for i in 0..c {
                t[i] = dy[i] * (x[i] * s[i]) / dx[i];
            }
            let factor = 2.0 * p.alpha * p.beta;
            for m in 0..c {
                // The windows that hold m: i from m − after to m + before.
                let sum: f32 = t[m.saturating_sub(after)..(m + before + 1).min(c)].iter().sum();
                dx[m] = dy[m] * s[m] - factor * x[m] * sum;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAPER: LrnParams = LrnParams {
        size: 5,
        alpha: 1e-4,
        beta: 0.75,
        k: 2.0,
    };

    fn pseudo_random(len: usize, seed: f32) -> Vec<f32> {
        (0..len)
            .map(|i| 3.0 * ((i as f32 + seed) * 12.9898).sin())
            .collect()
    }

    /// The definition in f64, one value at a time.
    fn naive(x: &[f32], c: usize, p: &LrnParams) -> Vec<f64> {
        let (before, after) = p.reach();
        let mut y = vec![0.0; x.len()];
        for (px, out) in x.chunks(c).zip(y.chunks_mut(c)) {
            for i in 0..c {
                let lo = i.saturating_sub(before);
                let hi = (i + after).min(c - 1);
                let sum: f64 = (lo..=hi).map(|j| (px[j] as f64).powi(2)).sum();
                let d = p.k as f64 + p.alpha as f64 * sum;
                out[i] = px[i] as f64 * d.powf(-(p.beta as f64));
            }
        }
        y
    }

    #[test]
    fn forward_matches_the_definition_for_odd_even_and_wide_windows() {
        // A large alpha makes the window matter; c = 1 and windows wider than the channels.
        for (c, size, alpha, beta) in [
            (7, 5, 0.3, 0.75),
            (16, 4, 0.1, 0.6),
            (1, 5, 0.5, 0.75),
            (3, 9, 0.2, 1.0),
        ] {
            let p = LrnParams {
                size,
                alpha,
                beta,
                k: 2.0,
            };
            let x = pseudo_random(c * 70, 1.0);
            let (y, _) = forward(&x, c, &p);
            for (i, (a, b)) in y.iter().zip(naive(&x, c, &p)).enumerate() {
                assert!(
                    (*a as f64 - b).abs() <= 1e-5 * (1.0 + b.abs()),
                    "{p:?} at {i}: {a} vs {b}"
                );
            }
        }
        // The paper's constants change values by little: y ≈ x / 2^0.75.
        let (y, _) = forward(&[1.0, 0.0], 2, &PAPER);
        assert!((y[0] - 2f32.powf(-0.75)).abs() < 1e-4);
    }

    #[test]
    fn backward_matches_finite_differences_of_the_definition() {
        for (c, size, beta) in [(6, 5, 0.75), (5, 4, 0.6), (1, 5, 0.75)] {
            let p = LrnParams {
                size,
                alpha: 0.3,
                beta,
                k: 2.0,
            };
            let x = pseudo_random(c * 3, 2.0);
            let dy = pseudo_random(c * 3, 3.0);
            let (_, scale) = forward(&x, c, &p);
            let dx = backward(&dy, &x, &scale, c, &p);
            // L = Σ dy ⊙ y(x), central differences in f64.
            let loss = |x: &[f32]| -> f64 {
                naive(x, c, &p)
                    .iter()
                    .zip(&dy)
                    .map(|(y, d)| y * *d as f64)
                    .sum()
            };
            let eps = 1e-3f32;
            for m in 0..x.len() {
                let (mut up, mut down) = (x.clone(), x.clone());
                up[m] += eps;
                down[m] -= eps;
                let numeric = (loss(&up) - loss(&down)) / (2.0 * eps as f64);
                assert!(
                    (dx[m] as f64 - numeric).abs() <= 1e-3 * (1.0 + numeric.abs()),
                    "{p:?} at {m}: {} vs {numeric}",
                    dx[m]
                );
            }
        }
    }
}
