//! The column matrix (im2col) of a channels-last input, and the weights laid out as the GEMM's
//! operand: what turns a convolution into matrix products.

use std::cell::RefCell;

use rayon::prelude::*;

use super::conv::ConvGeometry;
use super::gemm::Threads;
use super::layout::SendPtr;
use super::simd::multiversion;

thread_local! {
    /// Column matrix of the calling thread, reused across calls.
    static COLS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on a scratch buffer of `len` floats (contents unspecified): the calling thread's
/// reused one unless it is already in use further up the stack.
pub(crate) fn with_cols<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
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
pub(crate) fn im2col(
    x: &[f32],
    g: &ConvGeometry,
    first: usize,
    cols: &mut [f32],
    threads: Threads,
) {
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

/// The inverse of [`weight_matrix`] (not rotated): `[(tap, ci), c_out]` → `[c_out, c_in, k, k]`.
pub(crate) fn from_weight_matrix(m: &[f32], g: &ConvGeometry) -> Vec<f32> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn geometry(c_in: usize, c_out: usize, kernel: usize) -> ConvGeometry {
        ConvGeometry {
            batch: 1,
            c_in,
            c_out,
            height: 1,
            width: 1,
            kernel,
        }
    }

    #[test]
    fn weight_matrix_and_its_inverse_move_every_weight_to_its_place() {
        // Odd channel counts, in and out swapped; 1x1, 3x3 and 5x5 kernels.
        for (c_in, c_out, kernel) in [(1, 1, 3), (3, 17, 3), (17, 5, 1), (33, 40, 3), (20, 3, 5)] {
            let g = geometry(c_in, c_out, kernel);
            let taps = kernel * kernel;
            let weight: Vec<f32> = (0..g.weight_len()).map(|i| i as f32).collect();
            let m = weight_matrix(&weight, &g, false);
            for co in 0..c_out {
                for ci in 0..c_in {
                    for tap in 0..taps {
                        assert_eq!(
                            m[(tap * c_in + ci) * c_out + co],
                            weight[(co * c_in + ci) * taps + tap],
                            "{g:?} co {co} ci {ci} tap {tap}"
                        );
                    }
                }
            }
            assert_eq!(from_weight_matrix(&m, &g), weight, "{g:?}");
            // The input gradient's weights: rotated by 180°, in and out swapped.
            let r = weight_matrix(&weight, &g, true);
            for co in 0..c_out {
                for ci in 0..c_in {
                    for tap in 0..taps {
                        assert_eq!(
                            r[((taps - 1 - tap) * c_out + co) * c_in + ci],
                            weight[(co * c_in + ci) * taps + tap],
                            "rotated {g:?} co {co} ci {ci} tap {tap}"
                        );
                    }
                }
            }
        }
    }
}
