//! VGG's 2×2 max-pool with stride 2 (floor mode: an odd last row or column is dropped), on
//! NCHW or channels-last (NHWC) f32 buffers; the output keeps the input's order. The forward
//! keeps, per output value, which of the four inputs won as one byte (burn keeps an i64 index),
//! and the backward routes each gradient there.

use rayon::prelude::*;

use super::buffer::par_zeroed;
use super::layout::Order;
use super::simd::multiversion;

/// Output values below which the work is not split over threads.
const MIN_PARALLEL_OUTPUTS: usize = 1 << 12;

/// Shape of a 2×2/2 max-pool over `[batch, channels, height, width]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolGeometry {
    /// Images.
    pub batch: usize,
    /// Channels.
    pub channels: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
}

impl PoolGeometry {
    /// Output height.
    pub fn out_height(&self) -> usize {
        self.height / 2
    }

    /// Output width.
    pub fn out_width(&self) -> usize {
        self.width / 2
    }

    fn input_len(&self) -> usize {
        self.batch * self.channels * self.height * self.width
    }

    fn output_len(&self) -> usize {
        self.batch * self.channels * self.out_height() * self.out_width()
    }

    /// Element offsets of the four inputs of output `(i, j)` relative to the plane or row
    /// start: `stride` is 1 in NCHW, `channels` in NHWC.
    fn window(&self, i: usize, j: usize, stride: usize) -> [usize; 4] {
        let row = self.width * stride;
        let top = 2 * i * row + 2 * j * stride;
        [top, top + stride, top + row, top + row + stride]
    }
}

/// Which of `values` is the largest: the first one wins a tie, as in PyTorch, and a NaN wins
/// over any number.
#[inline(always)]
fn winner(values: [f32; 4]) -> usize {
    let mut best = 0;
    for (t, v) in values.iter().enumerate().skip(1) {
        if *v > values[best] || (v.is_nan() && !values[best].is_nan()) {
            best = t;
        }
    }
    best
}

multiversion! {
    /// One output row of the channels-last pool: `x` holds the two input rows (`2·width·c`
    /// values), `y` and `which` the `width/2` output pixels of `c` channels. Branch-free, so that
    /// it vectorises over the channels; a NaN wins, so that it propagates.
    fn pool_row(x: &[f32], y: &mut [f32], which: &mut [u8], c: usize) {
        let row = x.len() / 2;
        for (j, (y, which)) in y.chunks_exact_mut(c).zip(which.chunks_exact_mut(c)).enumerate() {
            let top = 2 * j * c;
            let (a, b) = (&x[top..top + c], &x[top + c..top + 2 * c]);
            let (d, e) = (&x[row + top..row + top + c], &x[row + top + c..row + top + 2 * c]);
            for ch in 0..c {
                let (mut best, mut t) = (a[ch], 0u8);
                for (k, v) in [(1u8, b[ch]), (2, d[ch]), (3, e[ch])] {
                    #[allow(clippy::eq_op)]
                    let take = v > best || v != v;
                    best = if take { v } else { best };
                    t = if take { k } else { t };
                }
                y[ch] = best;
                which[ch] = t;
            }
        }
    }
}

multiversion! {
    /// The backward of [`pool_row`]: each channel's gradient goes to the input pixel that won
    /// it, zero to the other three.
    fn unpool_row(dx: &mut [f32], dy: &[f32], which: &[u8], c: usize) {
        let row = dx.len() / 2;
        for (j, (dy, which)) in dy.chunks_exact(c).zip(which.chunks_exact(c)).enumerate() {
            let top = 2 * j * c;
            for (k, at) in (0u8..).zip([top, top + c, row + top, row + top + c]) {
                for ((d, g), t) in dx[at..at + c].iter_mut().zip(dy).zip(which) {
                    *d = if *t == k { *g } else { 0.0 };
                }
            }
        }
    }
}

/// Max of each 2×2 window and which of its four pixels (row-major: 0 top-left … 3 bottom-right)
/// held it.
///
/// # Shapes
/// - `x`: `[batch, channels, height, width]` in `order`
/// - returns `[batch, channels, height/2, width/2]` in `order`, twice
pub fn forward(x: &[f32], g: &PoolGeometry, order: Order) -> (Vec<f32>, Vec<u8>) {
    assert_eq!(x.len(), g.input_len(), "max-pool input for {g:?}");
    let (oh, ow) = (g.out_height(), g.out_width());
    let mut y = par_zeroed(g.output_len(), g.out_height() * g.out_width() * g.channels);
    let mut which = vec![0u8; y.len()];
    if y.is_empty() {
        return (y, which);
    }
    match order {
        Order::Nchw => {
            let (in_plane, out_plane) = (g.height * g.width, oh * ow);
            y.par_chunks_mut(out_plane)
                .zip(which.par_chunks_mut(out_plane))
                .zip(x.par_chunks(in_plane))
                .with_min_len((MIN_PARALLEL_OUTPUTS / out_plane).max(1))
                .for_each(|((y, which), x)| {
                    for i in 0..oh {
                        for j in 0..ow {
                            let at = g.window(i, j, 1).map(|o| x[o]);
                            let t = winner(at);
                            y[i * ow + j] = at[t];
                            which[i * ow + j] = t as u8;
                        }
                    }
                });
        }
        Order::Nhwc => {
            // One task per output row: `ow` pixels of `c` channels.
            let c = g.channels;
            let (in_rows, out_row) = (2 * g.width * c, ow * c);
            y.par_chunks_mut(out_row)
                .zip(which.par_chunks_mut(out_row))
                .enumerate()
                .with_min_len((MIN_PARALLEL_OUTPUTS / out_row).max(1))
                .for_each(|(r, (y, which))| {
                    let (n, i) = (r / oh, r % oh);
                    let x = &x[(n * g.height + 2 * i) * g.width * c..][..in_rows];
                    pool_row(x, y, which, c);
                });
        }
    }
    (y, which)
}

/// dL/dx of the max-pool: each output gradient goes to the input pixel that won its window.
///
/// # Shapes
/// - `dy`, `which`: `[batch, channels, height/2, width/2]` in `order`
/// - returns `[batch, channels, height, width]` in `order`
pub fn backward(dy: &[f32], which: &[u8], g: &PoolGeometry, order: Order) -> Vec<f32> {
    assert_eq!(dy.len(), g.output_len(), "max-pool gradient for {g:?}");
    assert_eq!(which.len(), dy.len(), "max-pool indices for {g:?}");
    let (oh, ow) = (g.out_height(), g.out_width());
    let mut dx = par_zeroed(g.input_len(), g.height * g.width * g.channels);
    if dy.is_empty() {
        return dx;
    }
    match order {
        Order::Nchw => {
            let (in_plane, out_plane) = (g.height * g.width, oh * ow);
            dx.par_chunks_mut(in_plane)
                .zip(dy.par_chunks(out_plane))
                .zip(which.par_chunks(out_plane))
                .with_min_len((MIN_PARALLEL_OUTPUTS / out_plane).max(1))
                .for_each(|((dx, dy), which)| {
                    for i in 0..oh {
                        for j in 0..ow {
                            let t = which[i * ow + j] as usize;
                            dx[g.window(i, j, 1)[t]] = dy[i * ow + j];
                        }
                    }
                });
        }
        Order::Nhwc => {
            let c = g.channels;
            let (in_rows, out_row) = (2 * g.width * c, ow * c);
            // One task per image; odd last rows and columns stay zero.
            dx.par_chunks_mut(g.height * g.width * c)
                .zip(dy.par_chunks(oh * out_row))
                .zip(which.par_chunks(oh * out_row))
                .for_each(|((dx, dy), which)| {
                    for i in 0..oh {
                        let dx = &mut dx[2 * i * g.width * c..][..in_rows];
                        let dy = &dy[i * out_row..][..out_row];
                        let which = &which[i * out_row..][..out_row];
                        unpool_row(dx, dy, which, c);
                    }
                });
        }
    }
    dx
}

#[cfg(test)]
mod tests {
    use super::super::layout::reorder;
    use super::*;

    #[test]
    fn pools_each_window_drops_an_odd_edge_and_routes_the_gradient_back() {
        // One 3×5 plane: the last row and column are outside every window.
        #[rustfmt::skip]
        let x = [
            1.0, 5.0,  2.0, 0.0, 9.0,
            3.0, 4.0, -1.0, 7.0, 9.0,
            9.0, 9.0,  9.0, 9.0, 9.0,
        ];
        let g = PoolGeometry {
            batch: 1,
            channels: 1,
            height: 3,
            width: 5,
        };
        let (y, which) = forward(&x, &g, Order::Nchw);
        assert_eq!(y, vec![5.0, 7.0]);
        assert_eq!(which, vec![1, 3]);
        let dx = backward(&[10.0, 20.0], &which, &g, Order::Nchw);
        let mut want = vec![0.0; 15];
        want[1] = 10.0;
        want[8] = 20.0;
        assert_eq!(dx, want);
    }

    #[test]
    fn channels_last_gives_the_same_pool_and_gradient() {
        let g = PoolGeometry {
            batch: 2,
            channels: 3,
            height: 5,
            width: 7,
        };
        let dims = [2, 3, 5, 7];
        let out_dims = [2, 3, 2, 3];
        let x: Vec<f32> = (0..2 * 3 * 5 * 7)
            .map(|i| ((i * 37) % 101) as f32)
            .collect();
        let (y, which) = forward(&x, &g, Order::Nchw);
        let dy: Vec<f32> = (0..y.len()).map(|i| i as f32 + 1.0).collect();
        let dx = backward(&dy, &which, &g, Order::Nchw);
        let x_l = reorder(&x, dims, Order::Nchw, Order::Nhwc);
        let (y_l, which_l) = forward(&x_l, &g, Order::Nhwc);
        assert_eq!(reorder(&y_l, out_dims, Order::Nhwc, Order::Nchw), y);
        let dy_l = reorder(&dy, out_dims, Order::Nchw, Order::Nhwc);
        let dx_l = backward(&dy_l, &which_l, &g, Order::Nhwc);
        assert_eq!(reorder(&dx_l, dims, Order::Nhwc, Order::Nchw), dx);
    }

    #[test]
    fn the_first_of_equal_values_wins_and_nan_wins_over_numbers() {
        let g = PoolGeometry {
            batch: 1,
            channels: 2,
            height: 2,
            width: 2,
        };
        let (y, which) = forward(
            &[0.0, 0.0, 0.0, 0.0, 1.0, f32::NAN, 3.0, 2.0],
            &g,
            Order::Nchw,
        );
        assert_eq!(which, vec![0, 1]);
        assert_eq!(y[0], 0.0);
        assert!(y[1].is_nan());
    }
}
