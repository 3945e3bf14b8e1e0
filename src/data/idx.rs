//! MNIST-style IDX files (LeCun's format), gzipped or raw: `*-images-idx3-ubyte[.gz]` and
//! `*-labels-idx1-ubyte[.gz]`.

use std::io::Read;
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use super::MemoryImages;
use crate::error::DataError;

/// At most this many bytes come out of one byte of a deflate stream (RFC 1951's longest
/// match, 258 bytes, in at most two bits, with a margin); a gzip file that would inflate further
/// is corrupt or hostile.
const MAX_INFLATION: u64 = 1032;

/// Reads a whole file, gunzipping it when it starts with the gzip magic bytes. The inflated
/// size is bounded by what deflate can produce from the file's size, and by `limit` bytes.
pub fn read_maybe_gz(path: &Path, limit: u64) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let cap = limit.min((raw.len() as u64).saturating_mul(MAX_INFLATION));
    let mut out = Vec::new();
    GzDecoder::new(raw.as_slice())
        .take(cap.saturating_add(1))
        .read_to_end(&mut out)
        .map_err(|e| DataError::format(path, format!("corrupt gzip stream: {e}")))?;
    if out.len() as u64 > cap {
        return Err(DataError::format(
            path,
            format!(
                "inflates to more than {cap} bytes, more than an IDX file of this kind can hold; a corrupt or hostile file: fetch it again"
            ),
        ));
    }
    Ok(out)
}

/// An IDX array of unsigned bytes: its dimensions and its data.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// Dimensions, outermost first.
    pub dims: Vec<usize>,
    /// Row-major data.
    pub data: Vec<u8>,
}

/// Parses IDX bytes (type 0x08, unsigned byte); `path` names the file in errors.
pub fn parse_idx(bytes: &[u8], path: &Path) -> Result<IdxArray, DataError> {
    if bytes.len() < 4 || bytes[0] != 0 || bytes[1] != 0 {
        return Err(DataError::format(
            path,
            "not an IDX file (bad magic number at offset 0); expected MNIST-format ubyte files",
        ));
    }
    if bytes[2] != 0x08 {
        return Err(DataError::format(
            path,
            format!(
                "IDX element type 0x{:02x} at offset 2, expected 0x08 (unsigned byte)",
                bytes[2]
            ),
        ));
    }
    let ndims = bytes[3] as usize;
    let header = 4 + 4 * ndims;
    if ndims == 0 || bytes.len() < header {
        return Err(DataError::format(path, "truncated IDX header"));
    }
    let dims: Vec<usize> = (0..ndims)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let Some(expected) = dims.iter().try_fold(1usize, |n, d| n.checked_mul(*d)) else {
        return Err(DataError::format(
            path,
            format!("IDX header's dimensions {dims:?} overflow: a corrupt file"),
        ));
    };
    let body = &bytes[header..];
    if body.len() != expected {
        return Err(DataError::format(
            path,
            format!(
                "IDX header says {dims:?} ({expected} bytes of data) but the file has {} bytes after the {header}-byte header (truncated or corrupt file)",
                body.len()
            ),
        ));
    }
    Ok(IdxArray {
        dims,
        data: body.to_vec(),
    })
}

/// The largest images file read (4 GiB: 5 million 28 × 28 images, 70 times MNIST's).
const MAX_IMAGES_BYTES: u64 = 4 << 30;
/// The largest labels file read.
const MAX_LABELS_BYTES: u64 = 256 << 20;

/// Finds `<dir>/<stem>.gz` or `<dir>/<stem>`.
fn find(dir: &Path, stem: &str, hint: &str) -> Result<PathBuf, DataError> {
    for name in [format!("{stem}.gz"), stem.to_string()] {
        let p = dir.join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(DataError::Missing {
        path: dir.join(format!("{stem}.gz")),
        hint: hint.to_string(),
    })
}

/// Reads one split (`"train"` or `"t10k"`) of an MNIST-style data set in `dir`.
pub fn read_split(dir: &Path, prefix: &str, hint: &str) -> Result<MemoryImages, DataError> {
    let img_path = find(dir, &format!("{prefix}-images-idx3-ubyte"), hint)?;
    let lbl_path = find(dir, &format!("{prefix}-labels-idx1-ubyte"), hint)?;
    let images = parse_idx(&read_maybe_gz(&img_path, MAX_IMAGES_BYTES)?, &img_path)?;
    let labels = parse_idx(&read_maybe_gz(&lbl_path, MAX_LABELS_BYTES)?, &lbl_path)?;
    if images.dims.len() != 3 {
        return Err(DataError::format(
            &img_path,
            format!(
                "expected 3 dimensions (n, rows, cols), found {:?}",
                images.dims
            ),
        ));
    }
    if images.dims.contains(&0) {
        return Err(DataError::format(
            &img_path,
            format!(
                "holds no image (dimensions {:?}): an empty split or zero-sized images; fetch the file again",
                images.dims
            ),
        ));
    }
    if labels.dims.len() != 1 {
        return Err(DataError::format(
            &lbl_path,
            format!("expected 1 dimension (n), found {:?}", labels.dims),
        ));
    }
    if labels.dims[0] != images.dims[0] {
        return Err(DataError::format(
            &lbl_path,
            format!(
                "{} labels for {} images in {}",
                labels.dims[0],
                images.dims[0],
                img_path.display()
            ),
        ));
    }
    if let Some(pos) = labels.data.iter().position(|l| *l > 9) {
        return Err(DataError::format(
            &lbl_path,
            format!("label {} at index {pos} is not in 0..=9", labels.data[pos]),
        ));
    }
    Ok(MemoryImages {
        channels: 1,
        height: images.dims[1],
        width: images.dims[2],
        pixels: images.data,
        labels: labels.data.iter().map(|l| *l as u16).collect(),
    })
}

/// Writes an IDX file of unsigned bytes (for tests and fixtures).
pub fn encode_idx(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&(*d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn write_set(dir: &Path, n: usize, gzip: bool) {
        let pixels: Vec<u8> = (0..n * 28 * 28).map(|i| (i % 251) as u8).collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
        for (stem, bytes) in [
            ("train-images-idx3-ubyte", encode_idx(&[n, 28, 28], &pixels)),
            ("train-labels-idx1-ubyte", encode_idx(&[n], &labels)),
        ] {
            if gzip {
                std::fs::write(dir.join(format!("{stem}.gz")), gz(&bytes)).unwrap();
            } else {
                std::fs::write(dir.join(stem), bytes).unwrap();
            }
        }
    }

    #[test]
    fn reads_gzipped_and_raw_idx_files() {
        for gzip in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            write_set(dir.path(), 12, gzip);
            let set = read_split(dir.path(), "train", "hint").unwrap();
            assert_eq!((set.channels, set.height, set.width), (1, 28, 28));
            assert_eq!(set.labels.len(), 12);
            assert_eq!(set.labels[11], 1);
            assert_eq!(set.pixels[28 * 28 + 5], ((28 * 28 + 5) % 251) as u8);
        }
    }

    #[test]
    fn truncated_file_is_a_format_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), 4, false);
        let p = dir.path().join("train-images-idx3-ubyte");
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 10]).unwrap();
        let err = read_split(dir.path(), "train", "hint")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train-images-idx3-ubyte") && err.contains("truncated"),
            "{err}"
        );
    }

    #[test]
    fn dimensions_whose_product_overflows_are_a_format_error() {
        let mut bytes = vec![0, 0, 0x08, 3];
        for _ in 0..3 {
            bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        }
        let err = parse_idx(&bytes, Path::new("f")).unwrap_err();
        assert!(err.to_string().contains("overflow"), "{err}");
    }

    #[test]
    fn an_empty_split_or_zero_sized_images_are_refused() {
        for dims in [[0usize, 28, 28], [3, 0, 28], [3, 28, 0]] {
            let dir = tempfile::tempdir().unwrap();
            let n = dims[0];
            std::fs::write(
                dir.path().join("train-images-idx3-ubyte"),
                encode_idx(&dims, &[]),
            )
            .unwrap();
            std::fs::write(
                dir.path().join("train-labels-idx1-ubyte"),
                encode_idx(&[n], &vec![0; n]),
            )
            .unwrap();
            let err = read_split(dir.path(), "train", "hint").unwrap_err();
            assert!(
                err.to_string().contains("holds no image"),
                "{dims:?}: {err}"
            );
        }
    }

    #[test]
    fn gzip_that_inflates_past_the_limit_is_refused_without_inflating_it_all() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bomb.gz");
        std::fs::write(&p, gz(&vec![0u8; 1 << 20])).unwrap();
        let err = read_maybe_gz(&p, 4096).unwrap_err();
        assert!(
            err.to_string().contains("inflates to more than 4096"),
            "{err}"
        );
        assert_eq!(read_maybe_gz(&p, 1 << 20).unwrap().len(), 1 << 20);
    }

    #[test]
    fn wrong_magic_is_rejected() {
        let err = parse_idx(b"\x12\x34\x08\x01\0\0\0\x01x", Path::new("f")).unwrap_err();
        assert!(err.to_string().contains("magic"), "{err}");
    }

    #[test]
    fn missing_files_say_where_to_get_them() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_split(dir.path(), "t10k", "apt-get install x")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("t10k-images-idx3-ubyte.gz") && err.contains("apt-get"),
            "{err}"
        );
    }

    #[test]
    fn label_count_must_match_image_count() {
        let dir = tempfile::tempdir().unwrap();
        write_set(dir.path(), 4, false);
        std::fs::write(
            dir.path().join("train-labels-idx1-ubyte"),
            encode_idx(&[3], &[0, 1, 2]),
        )
        .unwrap();
        let err = read_split(dir.path(), "train", "h")
            .unwrap_err()
            .to_string();
        assert!(err.contains("3 labels for 4 images"), "{err}");
    }
}
