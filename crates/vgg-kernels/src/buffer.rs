//! Fresh output buffers, zeroed on the rayon pool instead of by one thread up front.
//!
//! `vec![0.0; n]` zeroes the whole buffer on the calling thread before a parallel pass
//! overwrites it: for a layer's output that is a serial sweep through memory while the other
//! cores wait (the profile of a training step showed it as 3–4 % of all samples, in
//! `memset`). Here each task zeroes its own chunk and fills it at once, while the chunk is
//! still in that core's cache.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// `len` floats made chunk by chunk on the rayon pool: chunk `i` (`chunk` floats, the last one
/// shorter) is zeroed, then handed to `fill(i, chunk)`, which may leave any of it zero.
pub(crate) fn par_filled(
    len: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [f32]) + Sync,
) -> Vec<f32> {
    let mut buf: Vec<f32> = Vec::with_capacity(len);
    buf.spare_capacity_mut()[..len]
        .par_chunks_mut(chunk.max(1))
        .enumerate()
        .for_each(|(i, part)| {
            part.fill(MaybeUninit::new(0.0));
            // SAFETY: every element of `part` was initialised just above.
            let part = unsafe { assume_init(part) };
            fill(i, part);
        });
    // SAFETY: the chunks cover `0..len`, and every one was initialised above.
    unsafe { buf.set_len(len) };
    buf
}

/// `part`, whose every element has been written, as floats.
///
/// # Safety
/// Every element of `part` must be initialised.
pub(crate) unsafe fn assume_init(part: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    // SAFETY: the caller guarantees initialisation; `MaybeUninit<f32>` has the layout of `f32`.
    unsafe { &mut *(part as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// `len` zeros, written on the rayon pool in chunks of `chunk` floats.
pub(crate) fn par_zeroed(len: usize, chunk: usize) -> Vec<f32> {
    par_filled(len, chunk, |_, _| {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_chunk_starts_zeroed_and_keeps_what_fill_writes() {
        // Dirty the allocator first, so that a reused block would show if it were not zeroed.
        drop(vec![7.0f32; 1000]);
        let v = par_filled(1000, 64, |i, part| {
            if i % 2 == 1 {
                part[0] = i as f32;
            }
        });
        assert_eq!(v.len(), 1000);
        for (at, x) in v.iter().enumerate() {
            let (chunk, offset) = (at / 64, at % 64);
            let want = if chunk % 2 == 1 && offset == 0 {
                chunk as f32
            } else {
                0.0
            };
            assert_eq!(*x, want, "at {at}");
        }
        assert!(par_zeroed(0, 16).is_empty());
        assert_eq!(par_zeroed(33, 0), vec![0.0; 33]);
    }
}
