//! Direct convolution for the narrow layers, on AVX-512 or AVX2: no column matrix at all.
//!
//! im2col writes k·k copies of every input value before the GEMM reads them; for a layer with
//! few output channels that copy costs as much as the product, and the GEMM itself runs its
//! narrowest micro-kernel (16 or 32 output channels). Here each task computes a block of output
//! pixels × 16–64 output channels in registers, reading the (zero-padded) input directly: per
//! kernel tap and input channel, one broadcast per pixel and one vector load per 16 (AVX-512)
//! or 8 (AVX2) channels. Bias and ReLU are applied as the block is stored. The same kernel
//! computes the input gradient (dY convolved with the rotated weights).
//!
//! Both instruction sets add every output's products in the same order (bias, then tap by tap,
//! input channel by input channel, one fused multiply-add each), so they give bit-identical
//! outputs. [`forward`] returns `None` (and the caller takes the GEMM path) on a CPU with
//! neither, when the output channels are not a multiple of 16, or when rows are too short to
//! fill a block.

use super::buffer::par_filled;
use super::geometry::ConvGeometry;

/// Narrowest map whose rows fill a block of pixels well enough to beat the GEMM path.
const MIN_WIDTH: usize = 8;

/// Widest layer (output channels) the direct path takes, unless its input is an image: above
/// it the GEMM's larger blocks and cache tiling win (measured by `time_direct_against_gemm`,
/// AVX-512: 16–32 channels out 1.1–1.7× the GEMM path, 64–128 channels 0.75–0.95×).
const MAX_C_OUT: usize = 32;

/// Input channels of an image layer (grey or RGB), which the direct path always takes: the GEMM
/// would see a reduction of only k·k·c values (3.5–4× faster direct).
const IMAGE_C_IN: usize = 4;

/// The vector instruction set a direct kernel is compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isa {
    /// 16 floats a vector, 32 registers.
    Avx512,
    /// 8 floats a vector (with FMA), 16 registers.
    Avx2,
}

impl Isa {
    /// The widest this CPU runs, if any.
    pub(crate) fn best() -> Option<Self> {
        Self::available().first().copied()
    }

    /// Every one this CPU runs, widest first (detected once).
    pub(crate) fn available() -> &'static [Self] {
        static AVAILABLE: std::sync::OnceLock<Vec<Isa>> = std::sync::OnceLock::new();
        AVAILABLE.get_or_init(|| {
            let mut isas = Vec::new();
            #[cfg(target_arch = "x86_64")]
            {
                if std::is_x86_feature_detected!("avx512f") {
                    isas.push(Isa::Avx512);
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    isas.push(Isa::Avx2);
                }
            }
            isas
        })
    }
}

/// Whether [`forward`] takes a layer of this geometry on this CPU.
pub fn covers(g: &ConvGeometry) -> bool {
    g.c_out.is_multiple_of(16)
        && (g.c_out <= MAX_C_OUT || g.c_in <= IMAGE_C_IN)
        && g.width >= MIN_WIDTH
        && Isa::best().is_some()
}

/// `y = act(conv(x) + b)` with the weights laid out as `[(tap, ci), c_out]` (the GEMM path's
/// weight matrix), or `None` when [`covers`] says no.
///
/// # Shapes
/// - `x`: `[batch, height, width, c_in]`
/// - returns `[batch, height, width, c_out]`
pub fn forward(
    x: &[f32],
    w_matrix: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeometry,
    relu: bool,
) -> Option<Vec<f32>> {
    if !covers(g) {
        return None;
    }
    let isa = Isa::best()?; // Some: `covers` checked it
    Some(run(isa, x, w_matrix, bias, g, relu))
}

/// The direct convolution with the kernels of `isa` (which this CPU must run).
fn run(
    isa: Isa,
    x: &[f32],
    w_matrix: &[f32],
    bias: Option<&[f32]>,
    g: &ConvGeometry,
    relu: bool,
) -> Vec<f32> {
    assert!(
        Isa::available().contains(&isa),
        "direct conv: this CPU has no {isa:?}"
    );
    assert!(
        g.c_out.is_multiple_of(16),
        "direct conv output channels for {g:?}"
    );
    assert_eq!(x.len(), g.input_len(), "direct conv input for {g:?}");
    assert_eq!(
        w_matrix.len(),
        g.weight_len(),
        "direct conv weights for {g:?}"
    );
    if let Some(bias) = bias {
        // The kernels load `c_out` biases through raw pointers: a shorter slice would be read
        // past its end.
        assert_eq!(bias.len(), g.c_out, "direct conv bias for {g:?}");
    }
    let (k, c_in, c_out, h, w) = (g.kernel, g.c_in, g.c_out, g.height, g.width);
    let pad = k / 2;
    let padded = pad_input(x, g);
    let wp = w + 2 * pad;
    // Offset of each kernel tap from a window's top-left corner, in the padded input.
    let taps: Vec<usize> = (0..k * k).map(|t| ((t / k) * wp + t % k) * c_in).collect();
    // One task per output row, which it zeroes and then writes whole.
    par_filled(g.output_len(), w * c_out, |r, row| {
        let (n, i) = (r / h, r % h);
        let origin = ((n * (h + 2 * pad) + i) * wp) * c_in;
        let rows = Rows {
            x: &padded[origin..],
            taps: &taps,
            c_in,
            w: w_matrix,
            c_out,
            bias,
            relu,
        };
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU runs `isa` (asserted above); every pointer the kernel forms stays
        // inside the slices of `rows` and `row` (bounds asserted in each block).
        unsafe {
            match isa {
                Isa::Avx512 => avx512::row(&rows, row, w),
                Isa::Avx2 => avx2::row(&rows, row, w),
            }
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = (isa, rows, row);
    })
}

/// `x` with `k/2` zero pixels around every image: `[batch, height + 2p, width + 2p, c_in]`.
fn pad_input(x: &[f32], g: &ConvGeometry) -> Vec<f32> {
    let (c, h, w, pad) = (g.c_in, g.height, g.width, g.kernel / 2);
    let (hp, wp) = (h + 2 * pad, w + 2 * pad);
    // One task per padded row: zeros, and the input row between the side pads.
    par_filled(g.batch * hp * wp * c, wp * c, |r, dst| {
        let (n, i) = (r / hp, r % hp);
        if (pad..pad + h).contains(&i) {
            let src = &x[((n * h + i - pad) * w) * c..][..w * c];
            dst[pad * c..(pad + w) * c].copy_from_slice(src);
        }
    })
}

/// What every block of one output row reads.
struct Rows<'a> {
    /// The padded input from the row's first window's top-left corner.
    x: &'a [f32],
    /// Tap offsets within a window.
    taps: &'a [usize],
    c_in: usize,
    /// `[(tap, ci), c_out]`.
    w: &'a [f32],
    c_out: usize,
    bias: Option<&'a [f32]>,
    relu: bool,
}

/// One instruction set's kernels: a module `$isa` with `row`, which computes one output row in
/// blocks of P pixels × CB vectors of `$lanes` channels, accumulators in registers. `blocks`
/// lists, widest first, each channel-block count CB (taken when `c_out` is a multiple of
/// CB·`$lanes`) with the pixel-block sizes it uses (descending, ending in 1), chosen so that
/// P·CB accumulators, CB weight vectors and one broadcast fit in the registers.
macro_rules! direct_kernels {
    (
        $isa:ident, $feature:literal, $lanes:literal,
        zero: $zero:ident, load: $load:ident, store: $store:ident, splat: $splat:ident,
        fma: $fma:ident, max: $max:ident,
        blocks: [$($cb:literal => $sizes:expr),+ $(,)?],
        pixels: [$($p:literal),+ $(,)?] $(,)?
    ) => {
        #[cfg(target_arch = "x86_64")]
        mod $isa {
            use std::arch::x86_64::*;

            use super::Rows;

            /// One output row (`width` pixels × `c_out` channels) in blocks of pixels × channels.
            ///
            /// # Safety
            /// The CPU has the module's instruction set; `rows.x` holds the row's windows.
            #[target_feature(enable = $feature)]
            pub(super) unsafe fn row(rows: &Rows<'_>, out: &mut [f32], width: usize) {
                let cb = [$($cb),+]
                    .into_iter()
                    .find(|cb: &usize| rows.c_out.is_multiple_of($lanes * cb))
                    .expect("c_out is a multiple of the narrowest channel block");
                for co in (0..rows.c_out).step_by($lanes * cb) {
                    let mut j = 0;
                    while j < width {
                        let left = width - j;
                        // SAFETY: forwarded (the caller's guarantee); each block checks its bounds.
                        j += unsafe {
                            match cb {
                                $($cb => pixels::<$cb>(rows, out, j, co, left, $sizes),)+
                                _ => unreachable!("channel block {cb}"),
                            }
                        };
                    }
                }
            }

            /// Runs the largest block of `sizes` (descending, ending in 1) that fits in `left`
            /// pixels from pixel `j`; returns its size.
            #[target_feature(enable = $feature)]
            #[inline]
            unsafe fn pixels<const CB: usize>(
                rows: &Rows<'_>,
                out: &mut [f32],
                j: usize,
                co: usize,
                left: usize,
                sizes: [usize; 4],
            ) -> usize {
                let p = sizes.into_iter().find(|s| *s <= left).unwrap_or(1);
                // SAFETY: forwarded.
                unsafe {
                    match p {
                        $($p => block::<$p, CB>(rows, out, j, co),)+
                        _ => block::<1, CB>(rows, out, j, co),
                    }
                }
                p
            }

            /// Output pixels `j..j+P`, channels `co..co+lanes·CB` of the row: accumulators in
            /// registers, initialised with the bias; per tap and input channel, CB weight
            /// vectors and P broadcasts.
            #[target_feature(enable = $feature)]
            #[inline]
            unsafe fn block<const P: usize, const CB: usize>(
                rows: &Rows<'_>,
                out: &mut [f32],
                j: usize,
                co: usize,
            ) {
                let (c_in, c_out) = (rows.c_in, rows.c_out);
                let last_tap = rows.taps.last().copied().unwrap_or(0);
                assert!(
                    (j + P - 1) * c_in + last_tap + c_in <= rows.x.len(),
                    "window past input"
                );
                assert!(
                    (j + P) * c_out <= out.len() && co + $lanes * CB <= c_out,
                    "block past output"
                );
                assert!(
                    rows.w.len() >= rows.taps.len() * c_in * c_out,
                    "weights too short"
                );
                let x = rows.x.as_ptr();
                let mut acc = [[$zero(); CB]; P];
                if let Some(bias) = rows.bias {
                    for c in 0..CB {
                        // SAFETY: co + lanes·CB <= c_out = bias.len().
                        let b = unsafe { $load(bias.as_ptr().add(co + $lanes * c)) };
                        for a in acc.iter_mut() {
                            a[c] = b;
                        }
                    }
                }
                let mut w = rows.w.as_ptr().wrapping_add(co);
                for &tap in rows.taps {
                    // SAFETY (this loop): pixel p's value of channel ci under `tap` is at
                    // (j + p)·c_in + tap + ci < rows.x.len(), and weight row (tap, ci) holds
                    // c_out values from `w`, both asserted above.
                    let xt = unsafe { x.add(j * c_in + tap) };
                    for ci in 0..c_in {
                        let mut wv = [$zero(); CB];
                        for (c, v) in wv.iter_mut().enumerate() {
                            *v = unsafe { $load(w.add($lanes * c)) };
                        }
                        for (p, a) in acc.iter_mut().enumerate() {
                            let xb = $splat(unsafe { *xt.add(p * c_in + ci) });
                            for c in 0..CB {
                                a[c] = $fma(xb, wv[c], a[c]);
                            }
                        }
                        w = w.wrapping_add(c_out);
                    }
                }
                let zero = $zero();
                for (p, a) in acc.iter().enumerate() {
                    for (c, v) in a.iter().enumerate() {
                        // max(0, v) keeps a NaN (the second operand wins when either is NaN).
                        let v = if rows.relu { $max(zero, *v) } else { *v };
                        // SAFETY: (j + p)·c_out + co + lanes·(c + 1) <= out.len(), asserted above.
                        unsafe {
                            $store(out.as_mut_ptr().add((j + p) * c_out + co + $lanes * c), v)
                        };
                    }
                }
            }
        }
    };
}

// 32 registers: up to 16 pixels × 1 vector, 8 × 2 or 4 × 4.
direct_kernels!(
    avx512, "avx512f", 16,
    zero: _mm512_setzero_ps, load: _mm512_loadu_ps, store: _mm512_storeu_ps,
    splat: _mm512_set1_ps, fma: _mm512_fmadd_ps, max: _mm512_max_ps,
    blocks: [4 => [4, 2, 1, 1], 2 => [8, 4, 2, 1], 1 => [16, 8, 4, 1]],
    pixels: [16, 8, 4, 2, 1],
);

// 16 registers: 6 pixels × 2 vectors (12 accumulators, 2 weight vectors, 1 broadcast).
direct_kernels!(
    avx2, "avx2,fma", 8,
    zero: _mm256_setzero_ps, load: _mm256_loadu_ps, store: _mm256_storeu_ps,
    splat: _mm256_set1_ps, fma: _mm256_fmadd_ps, max: _mm256_max_ps,
    blocks: [2 => [6, 4, 2, 1]],
    pixels: [6, 4, 2, 1],
);

#[cfg(test)]
mod tests;
