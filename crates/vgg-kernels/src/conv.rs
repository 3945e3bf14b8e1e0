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

use std::mem::MaybeUninit;
use std::ops::Range;

use rayon::prelude::*;

use super::buffer::assume_init;
use super::columns::{from_weight_matrices, im2col, weight_matrix, with_cols};
use super::elementwise::{bias_and_relu, channel_sums};
pub use super::elementwise::{mask_relu, relu};
use super::gemm::{MatRef, Threads, matmul, matmul_into};
pub use super::geometry::ConvGeometry;

/// Rows (output pixels) one GEMM works on, at least: enough to keep the micro-kernels busy, few
/// enough that the column matrix of a small layer stays in L2 between im2col and the GEMM.
const GEMM_ROWS: usize = 512;

/// Largest column matrix (floats) one GEMM works on: 8 MiB.
const COLS_BUDGET: usize = 1 << 21;

impl ConvGeometry {
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
    let len = g.output_len();
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let groups = image_groups(g.batch);
    let threads = threads_per_group(&groups);
    // Each group of images writes its own rows of the output, every one of them (so the buffer
    // is never zeroed first).
    let mut slices = Vec::with_capacity(groups.len());
    let mut rest = &mut out.spare_capacity_mut()[..len];
    for images in groups {
        let (mine, others) = rest.split_at_mut(images.len() * g.plane() * g.c_out);
        slices.push((images, mine));
        rest = others;
    }
    let layer = GemmLayer {
        x,
        w_matrix,
        bias,
        g,
        relu,
        threads,
    };
    slices
        .into_par_iter()
        .for_each(|(images, out)| layer.forward_images(images, out));
    // SAFETY: the groups cover the batch, and `forward_images` writes all of a group's rows.
    unsafe { out.set_len(len) };
    out
}

/// One im2col + GEMM forward pass: the input, the laid-out weights and what follows the GEMM.
struct GemmLayer<'a> {
    x: &'a [f32],
    w_matrix: &'a [f32],
    bias: Option<&'a [f32]>,
    g: &'a ConvGeometry,
    relu: bool,
    /// Threads each group of images may use.
    threads: Threads,
}

impl GemmLayer<'_> {
    /// The forward pass of the images `images`, whose output rows are `out`: writes every one.
    fn forward_images(&self, images: Range<usize>, out: &mut [MaybeUninit<f32>]) {
        let GemmLayer {
            x,
            w_matrix,
            bias,
            g,
            relu,
            threads,
        } = *self;
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
                matmul_into(
                    out_chunk,
                    MatRef::row_major(cols, patch),
                    MatRef::row_major(w_matrix, c_out),
                    (rows, patch, c_out),
                    threads,
                );
                // SAFETY: the product wrote every element of the chunk.
                let out_chunk = unsafe { assume_init(out_chunk) };
                if bias.is_some() || relu {
                    bias_and_relu(out_chunk, bias, c_out, relu, threads);
                }
            }
        });
    }
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
    // [(tap, ci), c_out] as the GEMM leaves it, summed over the groups' partial products in
    // group order (collected first: a rayon reduce associates by how the work was split, which
    // changes from run to run, and float sums with it).
    let partials: Vec<Vec<f32>> = groups
        .into_par_iter()
        .map(|images| weight_grad_images(x, dy, g, images, threads))
        .collect();
    from_weight_matrices(&partials, g)
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
    if images.is_empty() {
        return vec![0.0; g.weight_len()];
    }
    let mut dw: Vec<f32> = Vec::with_capacity(g.weight_len());
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
            let (a, b) = (
                MatRef::transposed(cols, patch),
                MatRef::row_major(dy_chunk, c_out),
            );
            let shape = (patch, rows, c_out);
            if first == images.start {
                // The first chunk's product fills the whole (fresh) matrix.
                matmul_into(
                    &mut dw.spare_capacity_mut()[..patch * c_out],
                    a,
                    b,
                    shape,
                    threads,
                );
                // SAFETY: the product wrote all `patch · c_out` elements.
                unsafe { dw.set_len(patch * c_out) };
            } else {
                matmul(&mut dw, true, a, b, shape, threads);
            }
        }
    });
    dw
}

#[cfg(test)]
mod tests;
