//! CIFAR-10 and CIFAR-100, in either official format, as a directory or as the archive.
//!
//! *Binary version*: CIFAR-10's `cifar-10-batches-bin/data_batch_{1..5}.bin` and
//! `test_batch.bin`, records of 1 label byte + 3072 pixel bytes (1024 R, 1024 G, 1024 B, each
//! 32×32 row-major); CIFAR-100's `cifar-100-binary/train.bin` and `test.bin`, records of a
//! coarse and a fine label byte + 3072 pixel bytes.
//!
//! *Python version* (what `torchvision.datasets.CIFAR10(root, download=True)` leaves):
//! `cifar-10-batches-py/data_batch_{1..5}` and `test_batch`, `cifar-100-python/train` and
//! `test`, Python 2 pickles of a dict whose `data` is a numpy `uint8` array of shape
//! (N, 3072) in the same pixel order and whose `labels` (CIFAR-10) or `fine_labels`
//! (CIFAR-100) is a list of ints. Read with [`super::pickle`].
//!
//! [`source::locate`] finds which of these `data.path` points at; CIFAR-100 uses the fine
//! (100-class) labels.

pub mod source;

use std::path::Path;

use super::MemoryImages;
use super::pickle::Pickle;
use crate::error::DataError;
pub use source::{Format, Source, locate};

const PIXELS: usize = 3 * 32 * 32;

/// Which CIFAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cifar {
    /// 10 classes, one label byte per record.
    Ten,
    /// 100 fine classes, two label bytes (coarse, fine) per record.
    Hundred,
}

impl Cifar {
    /// The CIFAR variant of a data set kind (CIFAR-100 for anything but CIFAR-10).
    pub fn of(kind: crate::config::DatasetKind) -> Self {
        if kind == crate::config::DatasetKind::Cifar10 {
            Cifar::Ten
        } else {
            Cifar::Hundred
        }
    }

    fn label_bytes(self) -> usize {
        match self {
            Cifar::Ten => 1,
            Cifar::Hundred => 2,
        }
    }

    /// Number of classes.
    pub fn classes(self) -> usize {
        match self {
            Cifar::Ten => 10,
            Cifar::Hundred => 100,
        }
    }

    /// The pickle key of the labels.
    fn label_key(self) -> &'static str {
        match self {
            Cifar::Ten => "labels",
            Cifar::Hundred => "fine_labels",
        }
    }

    /// `CIFAR-10` or `CIFAR-100`.
    pub fn name(self) -> &'static str {
        match self {
            Cifar::Ten => "CIFAR-10",
            Cifar::Hundred => "CIFAR-100",
        }
    }
}

/// Parses the records of one binary-version file into `out`.
pub fn parse_records(
    bytes: &[u8],
    which: Cifar,
    path: &Path,
    out: &mut MemoryImages,
) -> Result<(), DataError> {
    let record = which.label_bytes() + PIXELS;
    if bytes.is_empty() || !bytes.len().is_multiple_of(record) {
        return Err(DataError::format(
            path,
            format!(
                "{} bytes is not a multiple of the {record}-byte record size (truncated or not the CIFAR binary version)",
                bytes.len()
            ),
        ));
    }
    for (i, rec) in bytes.chunks_exact(record).enumerate() {
        let label = rec[which.label_bytes() - 1] as usize;
        if label >= which.classes() {
            return Err(DataError::format(
                path,
                format!(
                    "record {i} (offset {}) has label {label}, expected < {}",
                    i * record,
                    which.classes()
                ),
            ));
        }
        out.labels.push(label as u16);
        out.pixels.extend_from_slice(&rec[which.label_bytes()..]);
    }
    Ok(())
}

/// Parses one python-version batch (a pickled dict) into `out`.
pub fn parse_pickle(
    bytes: &[u8],
    which: Cifar,
    path: &Path,
    out: &mut MemoryImages,
) -> Result<(), DataError> {
    let bad = |message: String| DataError::format(path, message);
    let p = Pickle::parse(bytes).map_err(|e| {
        bad(format!(
            "not a readable pickle: {e} (a truncated download? fetch the file again)"
        ))
    })?;
    let data = p.dict_get(p.root, "data").ok_or_else(|| {
        bad(format!(
            "the pickle has no 'data' entry: not a {} python-version batch",
            which.name()
        ))
    })?;
    let (shape, pixels) = p
        .ndarray_u8(data)
        .map_err(|e| bad(format!("'data': {e}")))?;
    if shape.len() != 2 || shape[1] != PIXELS {
        return Err(bad(format!(
            "'data' has shape {shape:?}, expected (N, {PIXELS}) for 32×32 RGB images"
        )));
    }
    let key = which.label_key();
    let labels = p
        .dict_get(p.root, key)
        .and_then(|l| p.ints(l))
        .ok_or_else(|| {
            bad(format!(
                "the pickle has no '{key}' list of ints: not a {} python-version batch",
                which.name()
            ))
        })?;
    if labels.len() != shape[0] {
        return Err(bad(format!(
            "{} labels for {} images",
            labels.len(),
            shape[0]
        )));
    }
    for (i, label) in labels.iter().enumerate() {
        if !(0..which.classes() as i64).contains(label) {
            return Err(bad(format!(
                "image {i} has label {label}, expected 0..{}",
                which.classes()
            )));
        }
    }
    out.labels.extend(labels.iter().map(|l| *l as u16));
    out.pixels.extend_from_slice(&pixels);
    Ok(())
}

/// Reads the training or test split from `path`: a directory of either format, the directory
/// that holds one, or a `.tar.gz` archive (see [`locate`]).
pub fn read_split(path: &Path, which: Cifar, train: bool) -> Result<MemoryImages, DataError> {
    let mut set = MemoryImages {
        channels: 3,
        height: 32,
        width: 32,
        pixels: Vec::new(),
        labels: Vec::new(),
    };
    let source = locate(path, which)?;
    let mut last = path.to_path_buf();
    for (file, format, bytes) in source.read(which, train)? {
        match format {
            Format::Binary => parse_records(&bytes, which, &file, &mut set)?,
            Format::Python => parse_pickle(&bytes, which, &file, &mut set)?,
        }
        last = file;
    }
    if set.labels.is_empty() {
        return Err(DataError::format(
            &last,
            format!(
                "the {} split holds no image; fetch the data again",
                if train { "training" } else { "test" }
            ),
        ));
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes records in the official format: `labels` then 3072 pixel bytes each.
    fn record(labels: &[u8], fill: u8) -> Vec<u8> {
        let mut r = labels.to_vec();
        r.extend((0..PIXELS).map(|i| fill.wrapping_add(i as u8)));
        r
    }

    #[test]
    fn reads_cifar10_batches_from_the_official_subdirectory() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("cifar-10-batches-bin");
        std::fs::create_dir(&dir).unwrap();
        for i in 1..=5u8 {
            let bytes = [record(&[i], i), record(&[9], 0)].concat();
            std::fs::write(dir.join(format!("data_batch_{i}.bin")), bytes).unwrap();
        }
        std::fs::write(dir.join("test_batch.bin"), record(&[3], 7)).unwrap();
        let train = read_split(root.path(), Cifar::Ten, true).unwrap();
        assert_eq!(train.labels, vec![1, 9, 2, 9, 3, 9, 4, 9, 5, 9]);
        assert_eq!(train.pixels.len(), 10 * PIXELS);
        assert_eq!(train.pixels[PIXELS * 2 + 1], 3); // batch 2, first record, pixel 1
        let test = read_split(&dir, Cifar::Ten, false).unwrap();
        assert_eq!(test.labels, vec![3]);
    }

    #[test]
    fn cifar100_uses_the_fine_label() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("train.bin"), record(&[4, 77], 0)).unwrap();
        std::fs::write(dir.path().join("test.bin"), record(&[19, 99], 0)).unwrap();
        assert_eq!(
            read_split(dir.path(), Cifar::Hundred, true).unwrap().labels,
            vec![77]
        );
        assert_eq!(
            read_split(dir.path(), Cifar::Hundred, false)
                .unwrap()
                .labels,
            vec![99]
        );
    }

    #[test]
    fn length_not_a_multiple_of_the_record_size_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("test.bin"), vec![0u8; 3074 + 5]).unwrap();
        let err = read_split(dir.path(), Cifar::Hundred, false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("test.bin") && err.contains("3074-byte record"),
            "{err}"
        );
    }

    #[test]
    fn missing_batch_says_where_to_download() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_split(dir.path(), Cifar::Ten, true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("data_batch_1.bin") && err.contains("cifar-10-binary"),
            "{err}"
        );
    }

    /// `tests/fixtures/cifar`, written by `scripts/peer/make_cifar_fixtures.py`.
    fn fixtures() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cifar")
    }

    /// The generator's images: pixel p of image k is (31k + 7p) mod 256.
    fn assert_generated(set: &MemoryImages, labels: &[u16]) {
        assert_eq!(set.labels, labels);
        assert_eq!(set.pixels.len(), labels.len() * PIXELS);
        for (k, image) in set.pixels.chunks_exact(PIXELS).enumerate() {
            for p in [0, 1, 1023, 1024, 3071] {
                assert_eq!(
                    image[p] as usize,
                    (31 * k + 7 * p) % 256,
                    "image {k} pixel {p}"
                );
            }
        }
    }

    #[test]
    fn torchvisions_python_pickles_its_archive_and_the_binary_version_read_alike() {
        let f = fixtures();
        let train_labels: Vec<u16> = (0..10).map(|k| k % 10).collect();
        let test_labels: Vec<u16> = (0..3).map(|k| k % 10).collect();
        // torchvision's root holds the archive and the extracted directory.
        let root = tempfile::tempdir().unwrap();
        std::fs::copy(
            f.join("cifar-10-python.tar.gz"),
            root.path().join("cifar-10-python.tar.gz"),
        )
        .unwrap();
        let only_archive = root.path().to_path_buf();
        for path in [
            f.join("cifar-10-batches-py"),
            f.join("cifar-10-batches-bin"),
            f.join("cifar-10-python.tar.gz"),
            only_archive,
            f.clone(),
        ] {
            let train = read_split(&path, Cifar::Ten, true).unwrap();
            assert_generated(&train, &train_labels);
            let test = read_split(&path, Cifar::Ten, false).unwrap();
            assert_generated(&test, &test_labels);
        }
        assert_eq!(
            locate(&f.join("cifar-10-batches-py"), Cifar::Ten).unwrap(),
            Source::Dir {
                dir: f.join("cifar-10-batches-py"),
                format: Format::Python
            }
        );
    }

    #[test]
    fn cifar100_pickles_use_the_fine_labels_in_every_form() {
        let f = fixtures();
        let fine = |n: u16| -> Vec<u16> { (0..n).map(|k| (7 * k) % 100).collect() };
        for path in [
            f.join("cifar-100-python"),
            f.join("cifar-100-binary"),
            f.join("cifar-100-python.tar.gz"),
            f.clone(),
        ] {
            assert_generated(&read_split(&path, Cifar::Hundred, true).unwrap(), &fine(4));
            assert_generated(&read_split(&path, Cifar::Hundred, false).unwrap(), &fine(2));
        }
    }

    #[test]
    fn a_truncated_pickle_is_a_one_line_error_naming_the_file() {
        let dir = fixtures().join("truncated");
        let err = read_split(&dir, Cifar::Ten, true).unwrap_err().to_string();
        assert!(
            err.contains("data_batch_1") && err.contains("truncated") && !err.contains('\n'),
            "{err}"
        );
    }

    #[test]
    fn a_truncated_archive_is_an_error_naming_it_with_the_fix() {
        let whole = std::fs::read(fixtures().join("cifar-10-python.tar.gz")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let cut = dir.path().join("cifar-10-python.tar.gz");
        std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
        let err = read_split(&cut, Cifar::Ten, true).unwrap_err().to_string();
        assert!(
            err.contains("cifar-10-python.tar.gz") && err.contains("fetch it again"),
            "{err}"
        );
        // Not an archive at all.
        std::fs::write(&cut, b"not gzip").unwrap();
        let err = read_split(&cut, Cifar::Ten, false).unwrap_err().to_string();
        assert!(err.contains("not a readable .tar.gz"), "{err}");
    }

    #[test]
    fn a_foreign_pickle_or_the_other_cifar_is_refused_by_name() {
        let f = fixtures();
        // CIFAR-100's files where CIFAR-10 is configured.
        let err = read_split(&f.join("cifar-100-python"), Cifar::Ten, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("holds no CIFAR-10 files"), "{err}");
        // A pickle of something else under a batch's name.
        let dir = tempfile::tempdir().unwrap();
        let meta = std::fs::read(f.join("cifar-10-batches-py/batches.meta")).unwrap();
        std::fs::write(dir.path().join("test_batch"), meta).unwrap();
        let err = read_split(dir.path(), Cifar::Ten, false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("test_batch") && err.contains("no 'data' entry"),
            "{err}"
        );
        // CIFAR-10's batch read as CIFAR-100: no fine labels.
        let batch = std::fs::read(f.join("cifar-10-batches-py/test_batch")).unwrap();
        std::fs::write(dir.path().join("test"), batch).unwrap();
        let err = read_split(dir.path(), Cifar::Hundred, false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("'fine_labels'"), "{err}");
    }
}
