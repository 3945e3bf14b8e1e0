//! The element-wise passes around the GEMMs: bias and ReLU on the output, the ReLU's mask on
//! the gradient, the bias gradient's channel sums; each compiled for the best SIMD level.

use rayon::prelude::*;

use super::gemm::Threads;
use super::simd::multiversion;

/// Elements below which an element-wise pass is not split over threads.
const MIN_PARALLEL_ELEMENTS: usize = 1 << 14;

/// `v = act(v + b[channel])` over channels-last rows of `c` values.
pub(crate) fn bias_and_relu(
    values: &mut [f32],
    bias: Option<&[f32]>,
    c: usize,
    relu: bool,
    threads: Threads,
) {
    match threads {
        Threads::One => bias_and_relu_rows(values, bias, c, relu),
        Threads::Pool => values
            .par_chunks_mut(c * min_len(c))
            .for_each(|block| bias_and_relu_rows(block, bias, c, relu)),
    }
}

multiversion! {
    /// [`bias_and_relu`] on one block of rows.
    fn bias_and_relu_rows(block: &mut [f32], bias: Option<&[f32]>, c: usize, relu: bool) {
        match bias {
            Some(b) => {
                for row in block.chunks_exact_mut(c) {
                    for (v, b) in row.iter_mut().zip(b) {
                        *v = activate(*v + b, relu);
                    }
                }
            }
            None => block.iter_mut().for_each(|v| *v = activate(*v, relu)),
        }
    }
}

/// Σ over pixels of channels-last rows of `c` values: `[c]`.
pub(crate) fn channel_sums(values: &[f32], c: usize) -> Vec<f32> {
    let rows_per_task = min_len(c).max(64);
    values
        .par_chunks(c * rows_per_task)
        .map(|block| {
            let mut sums = vec![0.0f32; c];
            add_rows(&mut sums, block);
            sums
        })
        .reduce(
            || vec![0.0f32; c],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            },
        )
}

multiversion! {
    /// `sums += Σ rows of block`, rows of `sums.len()` values.
    fn add_rows(sums: &mut [f32], block: &[f32]) {
        for row in block.chunks_exact(sums.len()) {
            for (s, v) in sums.iter_mut().zip(row) {
                *s += v;
            }
        }
    }
}

/// The ReLU as burn computes it: values ≤ 0 become 0, NaN passes through.
#[inline(always)]
fn activate(v: f32, relu: bool) -> f32 {
    if relu && v <= 0.0 { 0.0 } else { v }
}

fn min_len(item: usize) -> usize {
    (MIN_PARALLEL_ELEMENTS / item.max(1)).max(1)
}

/// `max(x, 0)` element-wise (NaN passes through, as in burn).
pub fn relu(x: &[f32]) -> Vec<f32> {
    let mut y = vec![0.0f32; x.len()];
    y.par_chunks_mut(MIN_PARALLEL_ELEMENTS)
        .zip(x.par_chunks(MIN_PARALLEL_ELEMENTS))
        .for_each(|(d, s)| relu_into(d, s));
    y
}

multiversion! {
    /// `d = max(s, 0)`.
    fn relu_into(d: &mut [f32], s: &[f32]) {
        for (d, s) in d.iter_mut().zip(s) {
            *d = activate(*s, true);
        }
    }
}

/// The ReLU's backward in place: `dy` (dL/dy) becomes dL/dx, zero where the output `y` (same
/// memory order) is ≤ 0, unchanged where it is positive or NaN.
pub fn mask_relu(dy: &mut [f32], y: &[f32]) {
    assert_eq!(
        dy.len(),
        y.len(),
        "relu backward: gradient and output differ in size"
    );
    dy.par_chunks_mut(MIN_PARALLEL_ELEMENTS)
        .zip(y.par_chunks(MIN_PARALLEL_ELEMENTS))
        .for_each(|(g, y)| mask_by(g, y));
}

multiversion! {
    /// `g = 0` where `y <= 0`.
    fn mask_by(g: &mut [f32], y: &[f32]) {
        for (g, y) in g.iter_mut().zip(y) {
            *g = if *y <= 0.0 { 0.0 } else { *g };
        }
    }
}
