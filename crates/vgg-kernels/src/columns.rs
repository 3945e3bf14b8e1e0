//! The column matrix (im2col) of a channels-last input, and the weights laid out as the GEMM's
//! operand: what turns a convolution into matrix products.

use std::cell::RefCell;
use std::ops::Range;

use rayon::prelude::*;

use super::gemm::Threads;
use super::geometry::ConvGeometry;
use super::layout::SendPtr;
use super::simd::multiversion;

thread_local! {
    /// Column matrix of the calling thread, reused across calls.
    static COLS: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// The largest scratch a thread keeps between calls (16 Mi floats, 64 MiB); a larger column
/// matrix (the first layers at 224², about 116 MB an image group) is allocated for the call and
/// freed after it, so no thread holds one for the life of the process.
pub(crate) const KEPT_COLS: usize = 16 << 20;

/// Runs `f` on a scratch buffer of `len` floats (contents unspecified): the calling thread's
/// reused one, unless it is already in use further up the stack or `len` exceeds
/// [`KEPT_COLS`].
pub(crate) fn with_cols<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    if len > KEPT_COLS {
        return f(&mut vec![0.0; len]);
    }
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

/// Side of the square tiles of channels (in × out) the weight layouts move at a time: a tile's
/// `BLOCK·BLOCK·k·k` source floats stay in L1 while it is written out in whole cache lines.
const BLOCK: usize = 16;

/// The weights as the GEMM's right operand: `[k·k·c_in, c_out]`, row `(tap, ci)`. With `rotate`,
/// those of the input-gradient convolution instead: `[k·k·c_out, c_in]`, row `(tap, co)` holding
/// `W[co, ci, k-1-kh, k-1-kw]`.
pub(crate) fn weight_matrix(weight: &[f32], g: &ConvGeometry, rotate: bool) -> Vec<f32> {
    let (taps, c_in, c_out) = (g.taps(), g.c_in, g.c_out);
    assert_eq!(weight.len(), g.weight_len(), "weight layout for {g:?}");
    if rotate {
        // One task per output channel: its k·k·c_in weights, read in order, fill rows (tap', co).
        written_by_tiles(weight.len(), (c_out, 1), (1, 1), |dst, cos, _| {
            for co in cos {
                let src = &weight[co * c_in * taps..][..c_in * taps];
                for rotated in 0..taps {
                    let tap = taps - 1 - rotated;
                    let row = (rotated * c_out + co) * c_in;
                    for ci in 0..c_in {
                        // SAFETY: row (rotated, co) belongs to this task alone; in bounds.
                        unsafe { dst.ptr().add(row + ci).write(src[ci * taps + tap]) };
                    }
                }
            }
        })
    } else {
        // Tile (ci, co): row (tap, ci) gets BLOCK consecutive output channels, a cache line.
        written_by_tiles(
            weight.len(),
            (c_in, BLOCK),
            (c_out, BLOCK),
            |dst, cis, cos| {
                for tap in 0..taps {
                    for ci in cis.clone() {
                        let row = (tap * c_in + ci) * c_out;
                        for co in cos.clone() {
                            let v = weight[(co * c_in + ci) * taps + tap];
                            // SAFETY: elements (·, ci, co) of the tile belong to this task; in bounds.
                            unsafe { dst.ptr().add(row + co).write(v) };
                        }
                    }
                }
            },
        )
    }
}

/// The inverse of [`weight_matrix`] (not rotated) applied to the sum of `parts`, added first to
/// last: `Σ [(tap, ci), c_out]` → `[c_out, c_in, k, k]`.
pub(crate) fn from_weight_matrices(parts: &[Vec<f32>], g: &ConvGeometry) -> Vec<f32> {
    let (taps, c_in, c_out) = (g.taps(), g.c_in, g.c_out);
    let len = g.weight_len();
    if parts.is_empty() {
        return vec![0.0; len];
    }
    for part in parts {
        assert_eq!(part.len(), len, "weight-gradient layout for {g:?}");
    }
    // Band of BLOCK input channels: the parts' rows (tap, ci) read whole and summed into a local
    // tile, then each output channel's run of BLOCK·k·k floats written in order. The tile's rows
    // are padded by a cache line so that the k·k·BLOCK values of one output channel fall in
    // different cache sets. (Reading the parts' values of one output channel directly instead
    // touches k·k·BLOCK lines a power of two apart, which share cache sets and evict each
    // other: 2× slower.)
    let stride = c_out + 16;
    written_by_tiles(
        len,
        (c_in, BLOCK),
        (c_out, c_out.max(1)),
        |dst, cis, cos| {
            let nci = cis.len();
            let mut tile = vec![0.0f32; taps * nci * stride];
            for (r, t) in tile.chunks_exact_mut(stride).enumerate() {
                let (tap, ci) = (r / nci, cis.start + r % nci);
                let from = (tap * c_in + ci) * c_out;
                let t = &mut t[..c_out];
                t.copy_from_slice(&parts[0][from..][..c_out]);
                for part in &parts[1..] {
                    t.iter_mut()
                        .zip(&part[from..][..c_out])
                        .for_each(|(s, p)| *s += p);
                }
            }
            for co in cos {
                for (l, ci) in cis.clone().enumerate() {
                    let at = (co * c_in + ci) * taps;
                    for tap in 0..taps {
                        let v = tile[(tap * nci + l) * stride + co];
                        // SAFETY: elements (co, ci, ·) of the band belong to this task; in bounds.
                        unsafe { dst.ptr().add(at + tap).write(v) };
                    }
                }
            }
        },
    )
}

/// A buffer of `len` floats written tile by tile on the rayon pool: `rows` and `cols` (each a
/// count and the tile's side along it) cut into tiles, one task per band of tiles along `rows`,
/// which calls `write(dst, rows, cols)` for each of its tiles in turn.
///
/// `write` must write every element its tiles own, and the tiles of all tasks must own every
/// element exactly once.
fn written_by_tiles(
    len: usize,
    (rows, row_block): (usize, usize),
    (cols, col_block): (usize, usize),
    write: impl Fn(SendPtr, Range<usize>, Range<usize>) + Sync,
) -> Vec<f32> {
    let mut buf: Vec<f32> = Vec::with_capacity(len);
    let dst = SendPtr(buf.as_mut_ptr());
    (0..rows.div_ceil(row_block))
        .into_par_iter()
        .for_each(|band| {
            let rs = band * row_block..((band + 1) * row_block).min(rows);
            for c0 in (0..cols).step_by(col_block) {
                write(dst, rs.clone(), c0..(c0 + col_block).min(cols));
            }
        });
    // SAFETY: the tiles cover every element, each written once by the task that owns it.
    unsafe { buf.set_len(len) };
    buf
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

    /// Floats the calling thread's kept scratch holds.
    fn kept() -> usize {
        COLS.with(|cell| cell.borrow().capacity())
    }

    #[test]
    fn a_scratch_larger_than_the_kept_size_is_freed_after_the_call() {
        std::thread::spawn(|| {
            with_cols(1000, |buf| buf.fill(1.0));
            assert!(kept() >= 1000);
            with_cols(KEPT_COLS + 1, |buf| assert_eq!(buf.len(), KEPT_COLS + 1));
            assert!(kept() < KEPT_COLS, "kept {} floats", kept());
        })
        .join()
        .unwrap();
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
            assert_eq!(
                from_weight_matrices(std::slice::from_ref(&m), &g),
                weight,
                "{g:?}"
            );
            // Several partial matrices are summed first to last.
            let twice = from_weight_matrices(&[m.clone(), m.clone()], &g);
            let doubled: Vec<f32> = weight.iter().map(|w| w + w).collect();
            assert_eq!(twice, doubled, "{g:?}");
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

    #[test]
    #[ignore = "timing, by hand: cargo test -p vgg-kernels layouts -- --ignored --nocapture"]
    fn time_weight_layouts() {
        for (c_in, c_out) in [(512, 512), (256, 512), (128, 256), (64, 128)] {
            let g = geometry(c_in, c_out, 3);
            let weight: Vec<f32> = (0..g.weight_len()).map(|i| i as f32).collect();
            let m = weight_matrix(&weight, &g, false);
            let parts = [m.clone(), m.clone()];
            let time = |f: &dyn Fn() -> Vec<f32>| {
                let mut best = f64::INFINITY;
                for _ in 0..20 {
                    let t = std::time::Instant::now();
                    std::hint::black_box(f());
                    best = best.min(t.elapsed().as_secs_f64());
                }
                best * 1e3
            };
            let copy = time(&|| weight.clone());
            let plain = time(&|| weight_matrix(&weight, &g, false));
            let rotated = time(&|| weight_matrix(&weight, &g, true));
            let back = time(&|| from_weight_matrices(&parts, &g));
            println!(
                "{c_in:>4}->{c_out:<4} ({:.1} MB) ms: copy {copy:.2} plain {plain:.2} rotated {rotated:.2} back(2 parts) {back:.2}",
                g.weight_len() as f64 * 4e-6
            );
        }
    }
}
