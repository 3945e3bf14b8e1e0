//! Memory orders of a 4-d activation `[N, C, H, W]`: burn's NCHW, and the channels-last NHWC
//! order the kernels work in (a pixel's channels side by side, so that im2col copies whole
//! channel vectors and the GEMMs read their operands without repacking).

use rayon::prelude::*;

/// Side of the square tiles a transpose moves at a time (fits L1 for both source and target).
const TILE: usize = 32;

/// The memory order of a dense 4-d tensor `[N, C, H, W]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// `[N, C, H, W]` row-major: burn's default.
    Nchw,
    /// `[N, H, W, C]` row-major: channels last.
    Nhwc,
}

impl Order {
    /// Element strides of `[n, c, h, w]` stored in this order.
    pub fn strides(self, [_, c, h, w]: [usize; 4]) -> [usize; 4] {
        match self {
            Order::Nchw => [c * h * w, h * w, w, 1],
            Order::Nhwc => [h * w * c, 1, w * c, c],
        }
    }
}

/// `images` row-major `rows × cols` matrices transposed into `cols × rows` ones.
pub fn transpose_batched(src: &[f32], images: usize, rows: usize, cols: usize) -> Vec<f32> {
    let per = rows * cols;
    assert_eq!(src.len(), images * per, "transpose: {images}×{rows}×{cols}");
    let mut dst = vec![0.0f32; src.len()];
    if per == 0 {
        return dst;
    }
    // One task per (image, band of TILE source rows).
    let bands = rows.div_ceil(TILE);
    let dst_ptr = SendPtr(dst.as_mut_ptr());
    (0..images * bands).into_par_iter().for_each(|task| {
        let (img, band) = (task / bands, task % bands);
        let (r0, r1) = (band * TILE, ((band + 1) * TILE).min(rows));
        let src = &src[img * per..][..per];
        for c0 in (0..cols).step_by(TILE) {
            let c1 = (c0 + TILE).min(cols);
            for c in c0..c1 {
                for r in r0..r1 {
                    // SAFETY: each task writes the disjoint set of elements whose source row is
                    // in its band, all inside `dst` (img·per + c·rows + r < images·per).
                    unsafe { *dst_ptr.ptr().add(img * per + c * rows + r) = src[r * cols + c] };
                }
            }
        }
    });
    dst
}

/// A raw pointer that may cross threads, for tasks that write disjoint elements of one buffer.
#[derive(Clone, Copy)]
pub(crate) struct SendPtr(pub(crate) *mut f32);
impl SendPtr {
    /// The pointer (a method, so that closures capture the whole `SendPtr`).
    pub(crate) fn ptr(self) -> *mut f32 {
        self.0
    }
}

// SAFETY: every user writes only elements no other task touches (stated at each use).
unsafe impl Send for SendPtr {}
// SAFETY: as above.
unsafe impl Sync for SendPtr {}

/// `x` (`[n, c, h, w]` in `from` order) in `to` order.
pub fn reorder(x: &[f32], [n, c, h, w]: [usize; 4], from: Order, to: Order) -> Vec<f32> {
    match (from, to) {
        (Order::Nchw, Order::Nhwc) => transpose_batched(x, n, c, h * w),
        (Order::Nhwc, Order::Nchw) => transpose_batched(x, n, h * w, c),
        _ => x.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nchw_and_nhwc_round_trip_and_agree_with_their_strides() {
        let dims = [2, 3, 5, 37];
        let x: Vec<f32> = (0..2 * 3 * 5 * 37).map(|i| i as f32).collect();
        let y = reorder(&x, dims, Order::Nchw, Order::Nhwc);
        let (sc, sh) = (Order::Nchw.strides(dims), Order::Nhwc.strides(dims));
        for (n, c, h, w) in [(0, 0, 0, 0), (1, 2, 4, 36), (1, 1, 3, 17)] {
            let at = |s: [usize; 4]| n * s[0] + c * s[1] + h * s[2] + w * s[3];
            assert_eq!(y[at(sh)], x[at(sc)]);
        }
        assert_eq!(reorder(&y, dims, Order::Nhwc, Order::Nchw), x);
    }
}
