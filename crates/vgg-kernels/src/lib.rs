//! vgg-train's own kernels for VGG's hot layers on the flex CPU backend: stride-1 "same"
//! convolutions (with the following ReLU fused in), the ReLU, the 2×2/2 max-pool and the local
//! response normalisation of A-LRN, forward and backward, wired into burn's autodiff as custom operations.
//!
//! burn-flex runs a convolution as one GEMM per image, its weight gradient through burn's generic
//! batch/channel swap and its input gradient through a per-image transposed convolution; here
//! every pass is im2col plus one GEMM per chunk of images ([`conv`]). Each function below takes
//! the fast path when the tensors live on the flex device in f32 and the layer has a shape the
//! kernels cover, and calls burn's own op otherwise (other devices, f16/bf16, other strides or
//! paddings), so a model can call them unconditionally.

mod buffer;
mod columns;
mod conv;
mod direct;
mod elementwise;
mod flex;
pub mod gemm;
mod geometry;
mod layout;
mod lrn;
mod pool;
mod simd;

use std::sync::atomic::{AtomicUsize, Ordering};

use burn::nn::conv::Conv2d;
use burn::nn::pool::MaxPool2d;
use burn::nn::{LocalResponseNorm, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::DType;

use conv::ConvGeometry;
pub use lrn::LrnParams;
use pool::PoolGeometry;

static FAST: AtomicUsize = AtomicUsize::new(0);
static FALLBACK: AtomicUsize = AtomicUsize::new(0);

/// How many layer calls (conv, ReLU, pool, LRN) the kernels ran and how many they left to burn's ops,
/// since the process started: the way to check that a network runs on the fast path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// Calls the kernels ran.
    pub fast: usize,
    /// Calls handed to burn (another device or dtype, or a shape the kernels do not cover).
    pub fallback: usize,
}

/// The vector instructions the kernels chose on this CPU (`avx512`, `avx2`, or the baseline
/// `x86_64`): a run is reproducible bit for bit only on a CPU that gives the same answer.
pub fn isa() -> &'static str {
    simd::chosen()
}

/// The calls so far.
pub fn usage() -> Usage {
    Usage {
        fast: FAST.load(Ordering::Relaxed),
        fallback: FALLBACK.load(Ordering::Relaxed),
    }
}

/// Counts one call; `taken` says whether the kernels ran it.
fn count<T>(taken: Option<T>) -> Option<T> {
    let counter = if taken.is_some() { &FAST } else { &FALLBACK };
    counter.fetch_add(1, Ordering::Relaxed);
    taken
}

/// `relu(conv(x))` when `relu` is set, else `conv(x)`, with `conv`'s weights and bias.
///
/// # Shapes
/// - `x`: `[N, C_in, H, W]`
/// - returns `[N, C_out, H', W']` (`H' = H`, `W' = W` on the fast path)
pub fn conv2d(conv: &Conv2d, x: Tensor<4>, relu: bool) -> Tensor<4> {
    let fast = conv_geometry(conv, &x).and_then(|geometry| {
        let bias = conv.bias.as_ref().map(|b| b.val());
        flex::conv2d(x.clone(), conv.weight.val(), bias, geometry, relu)
    });
    if let Some(y) = count(fast) {
        return y;
    }
    let y = conv.forward(x);
    if relu {
        burn::tensor::activation::relu(y)
    } else {
        y
    }
}

/// `max(x, 0)`.
pub fn relu(x: Tensor<4>) -> Tensor<4> {
    let fast = (x.dtype() == DType::F32)
        .then(|| flex::relu(x.clone()))
        .flatten();
    count(fast).unwrap_or_else(|| burn::tensor::activation::relu(x))
}

/// The local response normalisation across channels with the constants `params` (A-LRN's
/// layer); off the fast path, `layer`, burn's `LocalResponseNorm` with the same constants
/// (burn keeps them private, so the caller passes both).
///
/// # Shapes
/// - `x`: `[N, C, H, W]`
/// - returns `[N, C, H, W]`
pub fn local_response_norm(
    layer: &LocalResponseNorm,
    params: LrnParams,
    x: Tensor<4>,
) -> Tensor<4> {
    let fast = (x.dtype() == DType::F32)
        .then(|| flex::local_response_norm(x.clone(), params))
        .flatten();
    count(fast).unwrap_or_else(|| layer.forward(x))
}

/// `pool`'s max-pool of `x`.
///
/// # Shapes
/// - `x`: `[N, C, H, W]`
/// - returns `[N, C, H/2, W/2]` for VGG's 2×2/2 pool
pub fn max_pool2d(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    let covered = pool.kernel_size == [2, 2]
        && pool.stride == [2, 2]
        && pool.dilation == [1, 1]
        && !pool.ceil_mode
        && matches!(
            pool.padding,
            PaddingConfig2d::Valid | PaddingConfig2d::Explicit(0, 0, 0, 0)
        )
        && x.dtype() == DType::F32;
    let fast = covered
        .then(|| {
            let [n, c, height, width] = x.dims();
            let geometry = PoolGeometry {
                batch: n,
                channels: c,
                height,
                width,
            };
            flex::max_pool2d(x.clone(), geometry)
        })
        .flatten();
    count(fast).unwrap_or_else(|| pool.forward(x))
}

/// The geometry of `conv` applied to `x` if the kernels cover it: f32, stride 1, no dilation or
/// groups, a square odd kernel with zero padding of half its side on every side.
fn conv_geometry(conv: &Conv2d, x: &Tensor<4>) -> Option<ConvGeometry> {
    let [c_out, c_in, kh, kw] = conv.weight.dims();
    let [batch, x_channels, height, width] = x.dims();
    let pad = kh / 2;
    let padded = match conv.padding {
        PaddingConfig2d::Explicit(t, l, b, r) => [t, l, b, r] == [pad; 4],
        PaddingConfig2d::Same => true,
        PaddingConfig2d::Valid => kh == 1,
    };
    let covered = kh == kw
        && kh % 2 == 1
        && padded
        && conv.stride == [1, 1]
        && conv.dilation == [1, 1]
        && conv.groups == 1
        && x_channels == c_in
        && x.dtype() == DType::F32
        && conv.weight.val().dtype() == DType::F32;
    covered.then_some(ConvGeometry {
        batch,
        c_in,
        c_out,
        height,
        width,
        kernel: kh,
    })
}

#[cfg(test)]
mod equivalence;
