//! A safe face for the `gemm` crate's f32 matrix product, the one routine every kernel of
//! [`super`] spends its time in. `gemm` picks its micro-kernel (AVX2/FMA, AVX-512) at run time and
//! splits large products over the rayon pool.

use std::mem::MaybeUninit;

/// A read-only matrix view: element `(i, j)` is `data[i * row_stride + j * col_stride]`.
#[derive(Debug, Clone, Copy)]
pub struct MatRef<'a> {
    data: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

impl<'a> MatRef<'a> {
    /// A row-major `rows × cols` matrix: `(i, j)` at `data[i * cols + j]`.
    pub fn row_major(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: cols,
            col_stride: 1,
        }
    }

    /// The transpose of a row-major matrix with `cols` columns: `(i, j)` at `data[j * cols + i]`.
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row_stride: 1,
            col_stride: cols,
        }
    }

    /// Panics unless every element of a `rows × cols` view lies inside the slice, computed
    /// without wrapping (this crate may be built without overflow checks), and unless both
    /// strides fit the `isize` that gemm takes.
    fn check(&self, rows: usize, cols: usize, what: &str) {
        assert!(
            isize::try_from(self.row_stride).is_ok() && isize::try_from(self.col_stride).is_ok(),
            "gemm: {what} view's strides {} and {} exceed isize",
            self.row_stride,
            self.col_stride
        );
        if rows == 0 || cols == 0 {
            return;
        }
        let last = (rows - 1)
            .checked_mul(self.row_stride)
            .zip((cols - 1).checked_mul(self.col_stride))
            .and_then(|(r, c)| r.checked_add(c));
        assert!(
            last.is_some_and(|last| last < self.data.len()),
            "gemm: {what} view of {rows}×{cols} reaches past its {} elements",
            self.data.len()
        );
    }
}

/// Whether one product may use the whole rayon pool or runs on the calling thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// Split over the pool (gemm decides how, by size).
    Pool,
    /// On the calling thread (the caller runs several products side by side).
    One,
}

/// `dst (m×n, row-major) = [dst +] a (m×k) · b (k×n)`; `accumulate` adds to what `dst` holds.
pub fn matmul(
    dst: &mut [f32],
    accumulate: bool,
    a: MatRef<'_>,
    b: MatRef<'_>,
    shape: (usize, usize, usize),
    threads: Threads,
) {
    // SAFETY: `f32` and `MaybeUninit<f32>` share a layout, and an initialised buffer stays
    // initialised: the product only ever writes floats into it.
    let dst = unsafe { &mut *(dst as *mut [f32] as *mut [MaybeUninit<f32>]) };
    product(dst, accumulate, a, b, shape, threads);
}

/// `dst (m×n, row-major) = a (m×k) · b (k×n)` into a buffer that may hold anything: every one of
/// its first `m·n` elements is written (never read), so they are initialised afterwards.
pub fn matmul_into(
    dst: &mut [MaybeUninit<f32>],
    a: MatRef<'_>,
    b: MatRef<'_>,
    shape: (usize, usize, usize),
    threads: Threads,
) {
    product(dst, false, a, b, shape, threads);
}

/// [`matmul`] on a buffer that must be initialised when `accumulate` is set.
fn product(
    dst: &mut [MaybeUninit<f32>],
    accumulate: bool,
    a: MatRef<'_>,
    b: MatRef<'_>,
    (m, k, n): (usize, usize, usize),
    threads: Threads,
) {
    assert!(
        m.checked_mul(n).is_some_and(|mn| dst.len() >= mn),
        "gemm: destination smaller than {m}×{n}"
    );
    a.check(m, k, "left");
    b.check(k, n, "right");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            dst[..m * n].fill(MaybeUninit::new(0.0));
        }
        return;
    }
    // SAFETY: every element the product reads or writes lies inside the slices (checked above);
    // `dst` is borrowed mutably, so it cannot alias `a` or `b`; without `accumulate` gemm writes
    // `dst` without reading it (`read_dst = false`), so it may start uninitialised.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr().cast::<f32>(),
            1,
            n as isize,
            accumulate,
            a.data.as_ptr(),
            a.col_stride as isize,
            a.row_stride as isize,
            b.data.as_ptr(),
            b.col_stride as isize,
            b.row_stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            match threads {
                Threads::Pool => gemm::Parallelism::Rayon(0),
                Threads::One => gemm::Parallelism::None,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(a: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut c = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                c[i * n + j] = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum();
            }
        }
        c
    }

    #[test]
    fn matmul_matches_the_textbook_product_and_accumulates() {
        let (m, k, n) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.91).cos()).collect();
        let want = naive(&a, &b, m, k, n);
        let mut c = vec![0.0; m * n];
        matmul(
            &mut c,
            false,
            MatRef::row_major(&a, k),
            MatRef::row_major(&b, n),
            (m, k, n),
            Threads::Pool,
        );
        for (x, y) in c.iter().zip(&want) {
            assert!((x - y).abs() < 1e-5);
        }
        // bᵀ stored row-major (n×k), read through a transposed view.
        let bt: Vec<f32> = (0..n * k).map(|i| b[(i % k) * n + i / k]).collect();
        matmul(
            &mut c,
            true,
            MatRef::row_major(&a, k),
            MatRef::transposed(&bt, k),
            (m, k, n),
            Threads::Pool,
        );
        for (x, y) in c.iter().zip(&want) {
            assert!((x - 2.0 * y).abs() < 1e-5);
        }
    }

    #[test]
    fn matmul_into_writes_every_element_without_reading_the_destination() {
        // Row and column vectors (gemm's gemv paths), a reduction of zero, and a product large
        // enough for several depth blocks; the destination starts as NaN, which a read would
        // carry into the result.
        for (m, k, n) in [(1, 9, 7), (6, 5, 1), (3, 0, 4), (33, 700, 20)] {
            let a: Vec<f32> = (0..m * k).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..k * n).map(|i| (i as f32 * 0.91).cos()).collect();
            let want = naive(&a, &b, m, k, n);
            for threads in [Threads::One, Threads::Pool] {
                let mut c = vec![MaybeUninit::new(f32::NAN); m * n];
                matmul_into(
                    &mut c,
                    MatRef::row_major(&a, k),
                    MatRef::row_major(&b, n),
                    (m, k, n),
                    threads,
                );
                for (i, (x, y)) in c.iter().zip(&want).enumerate() {
                    // SAFETY: every element was initialised (to NaN, then by the product).
                    let x = unsafe { x.assume_init() };
                    assert!((x - y).abs() < 1e-4 * (1.0 + y.abs()), "{m}×{k}×{n} at {i}");
                }
            }
        }
    }

    #[test]
    #[should_panic(expected = "reaches past")]
    fn a_shape_whose_extent_wraps_around_is_refused_not_read_out_of_bounds() {
        // (2^63 + 1) rows of stride 2 wrap to a last element inside the 4-element slice when
        // the arithmetic wraps: the check must see through it.
        let mut c = vec![0.0; 4];
        let rows = (1usize << 63) + 1;
        matmul(
            &mut c,
            false,
            MatRef::row_major(&[1.0; 4], 2),
            MatRef::row_major(&[1.0; 4], 2),
            (rows, 2, 0),
            Threads::One,
        );
    }

    #[test]
    #[should_panic(expected = "destination smaller")]
    fn a_destination_whose_size_wraps_around_is_refused() {
        let mut c = vec![0.0; 4];
        matmul(
            &mut c,
            false,
            MatRef::row_major(&[], 0),
            MatRef::row_major(&[], 1 << 33),
            (1 << 32, 0, 1 << 32),
            Threads::One,
        );
    }

    #[test]
    #[should_panic(expected = "reaches past")]
    fn a_view_too_small_for_its_shape_is_refused() {
        let mut c = vec![0.0; 4];
        matmul(
            &mut c,
            false,
            MatRef::row_major(&[1.0; 3], 2),
            MatRef::row_major(&[1.0; 4], 2),
            (2, 2, 2),
            Threads::One,
        );
    }
}
