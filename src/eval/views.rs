//! Where the test-time crops of §3.2 lie on a rescaled image.

use crate::augment::Crop;

/// Crops per side of the multi-crop grid (5×5 in the paper).
pub const GRID: usize = 5;

/// Evenly spaced offsets of `n` crops of `size` along a side of `len`, first and last at the
/// edges.
pub fn grid_offsets(len: usize, size: usize, n: usize) -> Vec<usize> {
    let span = len.saturating_sub(size);
    if n <= 1 {
        return vec![span / 2];
    }
    (0..n)
        .map(|i| ((i * span) as f64 / (n - 1) as f64).round() as usize)
        .collect()
}

/// The paper's multi-crop views of a `height`×`width` image: a 5×5 grid of `size` crops,
/// each also mirrored when `flip` (50 views).
pub fn grid_crops(height: usize, width: usize, size: usize, flip: bool) -> Vec<Crop> {
    let flips: &[bool] = if flip { &[false, true] } else { &[false] };
    let mut crops = Vec::with_capacity(GRID * GRID * flips.len());
    for top in grid_offsets(height, size, GRID) {
        for left in grid_offsets(width, size, GRID) {
            for &flip in flips {
                crops.push(Crop {
                    top,
                    left,
                    pad: 0,
                    flip,
                });
            }
        }
    }
    crops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_spans_the_image_edge_to_edge() {
        assert_eq!(grid_offsets(256, 224, 5), vec![0, 8, 16, 24, 32]);
        assert_eq!(grid_offsets(224, 224, 5), vec![0; 5]);
        assert_eq!(grid_offsets(300, 224, 1), vec![38]);
    }

    #[test]
    fn multi_crop_has_fifty_views_with_flips() {
        let crops = grid_crops(256, 341, 224, true);
        assert_eq!(crops.len(), 50);
        assert_eq!(crops.iter().filter(|c| c.flip).count(), 25);
        assert!(
            crops
                .iter()
                .all(|c| c.top + 224 <= 256 && c.left + 224 <= 341)
        );
        assert_eq!(grid_crops(256, 256, 224, false).len(), 25);
    }
}
