//! Stride-1 "same" convolutions (k×k, k odd, zero padding k/2: VGG's 3×3 and 1×1 layers, and the
//! 5×5 of B-5x5) on channels-last (NHWC) f32 buffers: forward, input gradient, weight and bias
//! gradients, each as im2col plus **one GEMM per chunk of images**.
//!
//! Folding the batch into the GEMM is what makes the small maps fast: at 32×32 input the 4×4 and
//! 2×2 layers carry half of VGG-A's FLOPs, and one GEMM per image would give them 16 or 4 rows.
//! Channels last makes the rest cheap: an im2col row is a pixel's k·k channel vectors copied
//! whole, the output of a chunk is the GEMM's result as it stands (bias and ReLU applied in
//! place), and the weight gradient reads dY without a gather. A chunk holds as many images as
//! keep the column matrix under [`COLS_BUDGET`], so memory stays bounded whatever the batch; the
//! column buffer is reused from call to call.

use std::cell::RefCell;

use rayon::prelude::*;

use std::ops::Range;

use super::gemm::{MatRef, Threads, matmul};
use super::layout::SendPtr;
use super::simd::multiversion;

/// Rows (output pixels) one GEMM works on, at least: enough to keep the micro-kernels busy, few
/// enough that the column matrix of a small layer stays in L2 between im2col and the GEMM.
const GEMM_ROWS: usize = 512;

/// Largest column matrix (floats) one GEMM works on: 8 MiB.
const COLS_BUDGET: usize = 1 << 21;

/// Elements below which an element-wise pass is not split over threads.
const MIN_PARALLEL_ELEMENTS: usize = 1 << 14;

/// Shape of a stride-1 convolution with a k×k kernel (k odd) and zero padding k/2 on every side,
/// so the output map has the input's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    /// Images.
    pub batch: usize,
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Map height (input and output).
    pub height: usize,
    /// Map width (input and output).
    pub width: usize,
    /// Kernel side (odd).
    pub kernel: usize,
}

impl ConvGeometry {
    /// Pixels per map.
    pub fn plane(&self) -> usize {
        self.height * self.width
    }

    /// Kernel taps.
    fn taps(&self) -> usize {
        self.kernel * self.kernel
    }

    /// Columns of the column matrix: one per (kernel tap, input channel).
    fn patch(&self) -> usize {
        self.taps() * self.c_in
    }

    /// Elements of the input, `[batch, height, width, c_in]`.
    pub fn input_len(&self) -> usize {
        self.batch * self.plane() * self.c_in
    }

    /// Elements of the output, `[batch, height, width, c_out]`.
    pub fn output_len(&self) -> usize {
        self.batch * self.plane() * self.c_out
    }

    /// Elements of the weight, `[c_out, c_in, kernel, kernel]`.
    pub fn weight_len(&self) -> usize {
        self.c_out * self.patch()
    }

    /// The convolution that computes the input gradient: dY (c_out channels) convolved with the
    /// weights rotated by 180° and with in/out swapped.
    fn transposed(&self) -> Self {
        Self {
            c_in: self.c_out,
            c_out: self.c_in,
            ..*self
        }
    }

    /// Images per GEMM: enough for [`GEMM_ROWS`] rows, within [`COLS_BUDGET`], at least one.
    fn images_per_chunk(&self) -> usize {
        let plane = self.plane().max(1);
        let per_image = (self.patch() * plane).max(1);
        GEMM_ROWS
            .div_ceil(plane)
            .min(COLS_BUDGET / per_image)
            .clamp(1, self.batch.max(1))
    }

    fn check(&self, what: &str, len: usize, want: usize) {
        assert_eq!(len, want, "conv {what}: {len} elements for {self:?}");
        assert!(self.kernel % 2 == 1, "conv: even kernel in {self:?}");
    }
}

/// Gradients of a convolution, each present when asked for.
#[derive(Debug, Default)]
pub struct ConvGrads {
    /// dL/dx, `[batch, height, width, c_in]` (channels last).
    pub input: Option<Vec<f32>>,
    /// dL/dW, `[c_out, c_in, kernel, kernel]`.
    pub weight: Option<Vec<f32>>,
    /// dL/db, `[c_out]`.
    pub bias: Option<Vec<f32>>,
}

/// Which gradients [`backward`] computes.
#[derive(Debug, Clone, Copy)]
pub struct Wanted {
    /// dL/dx (not needed for the first layer, whose input is data).
    pub input: bool,
    /// dL/dW.
    pub weight: bool,
    /// dL/db.
    pub bias: bool,
}

thread_local! {
    /// Column matrix of the calling thread, reused across calls.
    static COLS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on a scratch buffer of `len` floats (contents unspecified): the calling thread's
/// reused one unless it is already in use further up the stack.
fn with_cols<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    COLS.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0.0);
            }
            f(&mut buf[..len])
        }
        Err(_) => f(&mut vec![0.0; len]),
    })
}

/// The column matrix of images `first..` (as many as `cols` holds): row `(image, i, j)` holds, tap after tap,
/// the input channels under kernel tap `(kh, kw)` centred on output pixel `(i, j)`, or zeros in
/// the padding.
///
/// # Shapes
/// - `x`: `[batch, height, width, c_in]`
/// - `cols`: `[count·height·width, k·k·c_in]`
fn im2col(x: &[f32], g: &ConvGeometry, first: usize, cols: &mut [f32], threads: Threads) {
    let (h, w, patch) = (g.height, g.width, g.patch());
    let row = |(r, dst): (usize, &mut [f32])| im2col_row(x, g, first + r / h, r % h, dst);
    match threads {
        Threads::One => cols.chunks_mut(w * patch).enumerate().for_each(row),
        // One task per output row: `w` pixels of `patch` values.
        Threads::Pool => cols.par_chunks_mut(w * patch).enumerate().for_each(row),
    }
}

multiversion! {
    /// Row `(n, i)` of the column matrix: `width` pixels of `k·k·c_in` values.
    fn im2col_row(x: &[f32], g: &ConvGeometry, n: usize, i: usize, dst: &mut [f32]) {
        let (k, c, h, w) = (g.kernel, g.c_in, g.height, g.width);
        let (pad, patch) = (k / 2, g.patch());
        for tap in 0..k * k {
            let (kh, kw) = (tap / k, tap % k);
            let si = (i + kh).wrapping_sub(pad);
            let src_row = (si < h).then(|| &x[(n * h + si) * w * c..][..w * c]);
            for j in 0..w {
                let out = &mut dst[j * patch + tap * c..][..c];
                let sj = (j + kw).wrapping_sub(pad);
                match src_row {
                    Some(row) if sj < w => copy_channels(out, &row[sj * c..][..c]),
                    _ => out.fill(0.0),
                }
            }
        }
    }
}

/// `dst.copy_from_slice(src)` for a pixel's channels, in 16-float blocks the compiler moves
/// inline (a `memcpy` call costs more than the copy for VGG's 16 to 512 channels).
#[inline(always)]
fn copy_channels(dst: &mut [f32], src: &[f32]) {
    let mut d = dst.chunks_exact_mut(16);
    let mut s = src.chunks_exact(16);
    for (d, s) in (&mut d).zip(&mut s) {
        let block: &[f32; 16] = s.try_into().expect("chunks_exact yields 16");
        d.copy_from_slice(block);
    }
    for (d, s) in d.into_remainder().iter_mut().zip(s.remainder()) {
        *d = *s;
    }
}

/// The weights as the GEMM's right operand: `[k·k·c_in, c_out]`, row `(tap, ci)`. With `rotate`,
/// those of the input-gradient convolution instead: `[k·k·c_out, c_in]`, row `(tap, co)` holding
/// `W[co, ci, k-1-kh, k-1-kw]`.
pub(crate) fn weight_matrix(weight: &[f32], g: &ConvGeometry, rotate: bool) -> Vec<f32> {
    let (taps, c_in, c_out) = (g.taps(), g.c_in, g.c_out);
    let mut m = vec![0.0f32; weight.len()];
    let dst = SendPtr(m.as_mut_ptr());
    if rotate {
        // One task per output channel: its k·k·c_in weights, read in order, fill rows (tap', co).
        (0..c_out).into_par_iter().for_each(|co| {
            let src = &weight[co * c_in * taps..][..c_in * taps];
            for rotated in 0..taps {
                let tap = taps - 1 - rotated;
                let row = (rotated * c_out + co) * c_in;
                for ci in 0..c_in {
                    // SAFETY: row (rotated, co) belongs to this task alone; in bounds.
                    unsafe { *dst.ptr().add(row + ci) = src[ci * taps + tap] };
                }
            }
        });
    } else {
        // One task per input channel: rows (tap, ci) for every tap.
        (0..c_in).into_par_iter().for_each(|ci| {
            for co in 0..c_out {
                let src = &weight[(co * c_in + ci) * taps..][..taps];
                for (tap, v) in src.iter().enumerate() {
                    // SAFETY: rows (·, ci) belong to this task alone; in bounds.
                    unsafe { *dst.ptr().add((tap * c_in + ci) * c_out + co) = *v };
                }
            }
        });
    }
    m
}

/// `y = act(conv(x, W) + b)`, `act` the ReLU when `relu` is set.
///
/// # Shapes
/// - `x`: `[batch, height, width, c_in]`, `weight`: `[c_out, c_in, k, k]`, `bias`: `[c_out]`
/// - returns `[batch, height, width, c_out]`
pub fn forward(
    x: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeometry,
    relu: bool,
) -> Vec<f32> {
    g.check("weight", weight.len(), g.weight_len());
    let w = weight_matrix(weight, g, false);
    forward_with(x, &w, bias, g, relu)
}

/// [`forward`] with the weights already laid out by [`weight_matrix`].
fn forward_with(
    x: &[f32],
    w_matrix: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeometry,
    relu: bool,
) -> Vec<f32> {
    g.check("input", x.len(), g.input_len());
    if let Some(b) = bias {
        g.check("bias", b.len(), g.c_out);
    }
    super::direct::forward(x, w_matrix, bias, g, relu)
        .unwrap_or_else(|| forward_gemm(x, w_matrix, bias, g, relu))
}

/// [`forward_with`] as im2col + GEMM, for every geometry.
pub(crate) fn forward_gemm(
    x: &[f32],
    w_matrix: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeometry,
    relu: bool,
) -> Vec<f32> {
    let mut out = vec![0.0f32; g.output_len()];
    let groups = image_groups(g.batch);
    let threads = threads_per_group(&groups);
    // Each group of images writes its own rows of the output.
    let mut slices = Vec::with_capacity(groups.len());
    let mut rest = &mut out[..];
    for images in groups {
        let (mine, others) = rest.split_at_mut(images.len() * g.plane() * g.c_out);
        slices.push((images, mine));
        rest = others;
    }
    slices
        .into_par_iter()
        .for_each(|(images, out)| forward_images(x, w_matrix, bias, g, relu, images, out, threads));
    out
}

/// [`forward_with`] for the images `images`, whose output rows are `out`.
#[allow(clippy::too_many_arguments)]
fn forward_images(
    x: &[f32],
    w_matrix: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeometry,
    relu: bool,
    images: Range<usize>,
    out: &mut [f32],
    threads: Threads,
) {
    let (plane, patch, c_out) = (g.plane(), g.patch(), g.c_out);
    let chunk = g.images_per_chunk();
    let direct = g.kernel == 1; // a 1×1 conv's column matrix is its input
    with_cols(if direct { 0 } else { patch * chunk * plane }, |cols| {
        for first in images.clone().step_by(chunk) {
            let count = chunk.min(images.end - first);
            let rows = count * plane;
            let cols: &[f32] = if direct {
                &x[first * plane * g.c_in..][..rows * g.c_in]
            } else {
                let cols = &mut cols[..rows * patch];
                im2col(x, g, first, cols, threads);
                cols
            };
            let out_chunk = &mut out[(first - images.start) * plane * c_out..][..rows * c_out];
            matmul(
                out_chunk,
                false,
                MatRef::row_major(cols, patch),
                MatRef::row_major(w_matrix, c_out),
                (rows, patch, c_out),
                threads,
            );
            if bias.is_some() || relu {
                bias_and_relu(out_chunk, bias, c_out, relu, threads);
            }
        }
    });
}

/// The batch cut into one contiguous group of images per thread of the pool, each group then
/// worked through on its own thread; a single group when the batch is smaller than the pool,
/// whose passes then use the whole pool. Coarse tasks keep small layers from paying a fork and
/// join per chunk and per pass.
fn image_groups(batch: usize) -> Vec<Range<usize>> {
    let threads = rayon::current_num_threads();
    if threads <= 1 || batch < threads {
        return std::iter::once(0..batch).collect();
    }
    (0..threads)
        .map(|t| batch * t / threads..batch * (t + 1) / threads)
        .collect()
}

fn threads_per_group(groups: &[Range<usize>]) -> Threads {
    if groups.len() > 1 {
        Threads::One
    } else {
        Threads::Pool
    }
}

/// `v = act(v + b[channel])` over channels-last rows of `c` values.
fn bias_and_relu(values: &mut [f32], bias: Option<&[f32]>, c: usize, relu: bool, threads: Threads) {
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

/// Gradients of `y = conv(x, W) + b` given `dy = dL/dy` (for a fused ReLU, the gradient at its
/// input: see [`mask_relu`]).
///
/// # Shapes
/// as [`forward`]; `dy` is `[batch, height, width, c_out]`.
pub fn backward(
    x: &[f32],
    weight: &[f32],
    dy: &[f32],
    g: &ConvGeometry,
    wanted: Wanted,
) -> ConvGrads {
    g.check("input", x.len(), g.input_len());
    g.check("weight", weight.len(), g.weight_len());
    g.check("output gradient", dy.len(), g.output_len());
    let bias = wanted.bias.then(|| channel_sums(dy, g.c_out));
    let weight_grad = wanted.weight.then(|| weight_grad(x, dy, g));
    let input = wanted.input.then(|| {
        let rotated = weight_matrix(weight, g, true);
        forward_with(dy, &rotated, None, &g.transposed(), false)
    });
    ConvGrads {
        input,
        weight: weight_grad,
        bias,
    }
}

/// dW = colsᵀ · dY, one GEMM per chunk of images, accumulated; returned as
/// `[c_out, c_in, k, k]`.
fn weight_grad(x: &[f32], dy: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let groups = image_groups(g.batch);
    let threads = threads_per_group(&groups);
    // [(tap, ci), c_out] as the GEMM leaves it, summed over the groups' partial products.
    let dw = groups
        .into_par_iter()
        .map(|images| weight_grad_images(x, dy, g, images, threads))
        .reduce_with(|mut a, b| {
            a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
            a
        })
        .unwrap_or_else(|| vec![0.0; g.weight_len()]);
    from_weight_matrix(&dw, g)
}

/// The inverse of [`weight_matrix`] (not rotated): `[(tap, ci), c_out]` → `[c_out, c_in, k, k]`.
fn from_weight_matrix(m: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let (taps, c_in, c_out) = (g.taps(), g.c_in, g.c_out);
    let mut weight = vec![0.0f32; m.len()];
    let dst = SendPtr(weight.as_mut_ptr());
    // One task per input channel: rows (·, ci) of `m`, read in order.
    (0..c_in).into_par_iter().for_each(|ci| {
        for tap in 0..taps {
            let row = &m[(tap * c_in + ci) * c_out..][..c_out];
            for (co, v) in row.iter().enumerate() {
                // SAFETY: elements (·, ci, ·) belong to this task alone; in bounds.
                unsafe { *dst.ptr().add((co * c_in + ci) * taps + tap) = *v };
            }
        }
    });
    weight
}

/// dW (`[(tap, ci), c_out]`) of the images `images` alone.
fn weight_grad_images(
    x: &[f32],
    dy: &[f32],
    g: &ConvGeometry,
    images: Range<usize>,
    threads: Threads,
) -> Vec<f32> {
    let (plane, patch, c_out) = (g.plane(), g.patch(), g.c_out);
    let mut dw = vec![0.0f32; g.weight_len()];
    let chunk = g.images_per_chunk();
    let direct = g.kernel == 1;
    with_cols(if direct { 0 } else { patch * chunk * plane }, |cols| {
        for first in images.clone().step_by(chunk) {
            let count = chunk.min(images.end - first);
            let rows = count * plane;
            let cols: &[f32] = if direct {
                &x[first * plane * g.c_in..][..rows * g.c_in]
            } else {
                let cols = &mut cols[..rows * patch];
                im2col(x, g, first, cols, threads);
                cols
            };
            let dy_chunk = &dy[first * plane * c_out..][..rows * c_out];
            matmul(
                &mut dw,
                first > images.start,
                MatRef::transposed(cols, patch),
                MatRef::row_major(dy_chunk, c_out),
                (patch, rows, c_out),
                threads,
            );
        }
    });
    dw
}

/// Σ over pixels of channels-last rows of `c` values: `[c]`.
fn channel_sums(values: &[f32], c: usize) -> Vec<f32> {
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

#[cfg(test)]
mod tests {
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
                        y[((n * g.c_out + co) as isize * h + i) as usize * g.width + j as usize] =
                            s;
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
}
