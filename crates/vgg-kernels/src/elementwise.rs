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

/// Σ over pixels of channels-last rows of `c` values: `[c]`. Blocks of rows are summed in
/// parallel, then the blocks' sums in block order, so the result does not depend on how rayon
/// split the work (a parallel `reduce` associates differently from run to run).
pub(crate) fn channel_sums(values: &[f32], c: usize) -> Vec<f32> {
    let rows_per_task = min_len(c).max(64);
    let partials: Vec<Vec<f32>> = values
        .par_chunks(c * rows_per_task)
        .map(|block| {
            let mut sums = vec![0.0f32; c];
            add_rows(&mut sums, block);
            sums
        })
        .collect();
    sum_in_order(partials, c)
}

/// The element-wise sum of `partials` (each of `len` values), added first to last.
pub(crate) fn sum_in_order(partials: Vec<Vec<f32>>, len: usize) -> Vec<f32> {
    let mut parts = partials.into_iter();
    let mut total = parts.next().unwrap_or_else(|| vec![0.0; len]);
    for part in parts {
        total.iter_mut().zip(&part).for_each(|(t, p)| *t += p);
    }
    total
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_sums_add_the_blocks_in_order_whatever_the_thread_split() {
        // Many blocks of rows, values whose float sums depend on the order of addition.
        let c = 16;
        let rows = 64 * min_len(c).max(64) + 7;
        let values: Vec<f32> = (0..rows * c)
            .map(|i| (i as f32 * 12.9898).sin() * (1.0 + (i % 7) as f32 * 1e3))
            .collect();
        // The reference: each block summed row by row, then the blocks first to last.
        let block_rows = min_len(c).max(64);
        let mut want = vec![0.0f32; c];
        for block in values.chunks(c * block_rows) {
            let mut sums = vec![0.0f32; c];
            for row in block.chunks_exact(c) {
                sums.iter_mut().zip(row).for_each(|(s, v)| *s += v);
            }
            want.iter_mut().zip(&sums).for_each(|(w, s)| *w += s);
        }
        for threads in [1, 2, 3, 8] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            for _ in 0..5 {
                let got = pool.install(|| channel_sums(&values, c));
                assert!(
                    got.iter()
                        .zip(&want)
                        .all(|(a, b)| a.to_bits() == b.to_bits()),
                    "{threads} threads: {got:?} vs {want:?}"
                );
            }
        }
    }
}
