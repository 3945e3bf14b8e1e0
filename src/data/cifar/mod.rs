//! CIFAR-10 and CIFAR-100, the official *binary* version.
//!
//! CIFAR-10: `cifar-10-batches-bin/data_batch_{1..5}.bin` and `test_batch.bin`, records of
//! 1 label byte + 3072 pixel bytes (1024 R, 1024 G, 1024 B, each 32×32 row-major).
//! CIFAR-100: `cifar-100-binary/train.bin` and `test.bin`, records of a coarse and a fine label
//! byte + 3072 pixel bytes; we use the fine (100-class) label.

use std::path::{Path, PathBuf};

use super::MemoryImages;
use crate::error::DataError;

const PIXELS: usize = 3 * 32 * 32;
const HINT10: &str = "download the binary version (cifar-10-binary.tar.gz) from https://www.cs.toronto.edu/~kriz/cifar.html, extract it, and set data.path to the cifar-10-batches-bin directory";
const HINT100: &str = "download the binary version (cifar-100-binary.tar.gz) from https://www.cs.toronto.edu/~kriz/cifar.html, extract it, and set data.path to the cifar-100-binary directory";

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

    fn subdir(self) -> &'static str {
        match self {
            Cifar::Ten => "cifar-10-batches-bin",
            Cifar::Hundred => "cifar-100-binary",
        }
    }

    fn files(self, train: bool) -> Vec<String> {
        match (self, train) {
            (Cifar::Ten, true) => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
            (Cifar::Ten, false) => vec!["test_batch.bin".into()],
            (Cifar::Hundred, true) => vec!["train.bin".into()],
            (Cifar::Hundred, false) => vec!["test.bin".into()],
        }
    }

    fn hint(self) -> &'static str {
        match self {
            Cifar::Ten => HINT10,
            Cifar::Hundred => HINT100,
        }
    }
}

/// The directory holding the `.bin` files: `path` itself or its official sub-directory.
fn resolve_dir(path: &Path, which: Cifar) -> PathBuf {
    let sub = path.join(which.subdir());
    if sub.is_dir() {
        sub
    } else {
        path.to_path_buf()
    }
}

/// Parses the records of one `.bin` file into `out`.
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

/// Reads the training or test split from `path`.
pub fn read_split(path: &Path, which: Cifar, train: bool) -> Result<MemoryImages, DataError> {
    let dir = resolve_dir(path, which);
    let mut set = MemoryImages {
        channels: 3,
        height: 32,
        width: 32,
        pixels: Vec::new(),
        labels: Vec::new(),
    };
    for name in which.files(train) {
        let file = dir.join(&name);
        if !file.is_file() {
            return Err(DataError::Missing {
                path: file,
                hint: which.hint().into(),
            });
        }
        let bytes = std::fs::read(&file).map_err(|e| DataError::io(&file, e))?;
        parse_records(&bytes, which, &file, &mut set)?;
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
}
