//! Where a CIFAR copy is and in which format: a directory of `.bin` files or of pickles, the
//! directory that holds one (torchvision's `root`), or the `.tar.gz` as downloaded, read
//! without extracting it.

use std::collections::BTreeMap;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use super::Cifar;
use crate::error::DataError;

/// The two official formats of CIFAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Fixed-size records (`*.bin`).
    Binary,
    /// Python 2 pickles (what torchvision downloads).
    Python,
}

impl Format {
    const BOTH: [Format; 2] = [Format::Binary, Format::Python];

    /// The official directory of `which` in this format.
    pub fn subdir(self, which: Cifar) -> &'static str {
        match (which, self) {
            (Cifar::Ten, Format::Binary) => "cifar-10-batches-bin",
            (Cifar::Ten, Format::Python) => "cifar-10-batches-py",
            (Cifar::Hundred, Format::Binary) => "cifar-100-binary",
            (Cifar::Hundred, Format::Python) => "cifar-100-python",
        }
    }

    /// The official archive of `which` in this format.
    pub fn archive(self, which: Cifar) -> &'static str {
        match (which, self) {
            (Cifar::Ten, Format::Binary) => "cifar-10-binary.tar.gz",
            (Cifar::Ten, Format::Python) => "cifar-10-python.tar.gz",
            (Cifar::Hundred, Format::Binary) => "cifar-100-binary.tar.gz",
            (Cifar::Hundred, Format::Python) => "cifar-100-python.tar.gz",
        }
    }

    /// The files of the training or test split, in reading order.
    pub fn files(self, which: Cifar, train: bool) -> Vec<String> {
        let ext = match self {
            Format::Binary => ".bin",
            Format::Python => "",
        };
        let stems: Vec<String> = match (which, train) {
            (Cifar::Ten, true) => (1..=5).map(|i| format!("data_batch_{i}")).collect(),
            (Cifar::Ten, false) => vec!["test_batch".into()],
            (Cifar::Hundred, true) => vec!["train".into()],
            (Cifar::Hundred, false) => vec!["test".into()],
        };
        stems.into_iter().map(|s| s + ext).collect()
    }

    /// Whether `dir` holds any file of this format.
    fn found_in(self, dir: &Path, which: Cifar) -> bool {
        [true, false]
            .iter()
            .flat_map(|train| self.files(which, *train))
            .any(|f| dir.join(f).is_file())
    }
}

/// A located CIFAR copy.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A directory of one format's files.
    Dir {
        /// The directory.
        dir: PathBuf,
        /// Its format.
        format: Format,
    },
    /// A `.tar.gz` of either format, as downloaded.
    Archive(PathBuf),
}

/// What to do when no CIFAR copy is found.
pub fn hint(which: Cifar) -> String {
    let [bin, py] = Format::BOTH.map(|f| f.subdir(which));
    let [bin_tar, py_tar] = Format::BOTH.map(|f| f.archive(which));
    let first = Format::Binary.files(which, true).remove(0);
    format!(
        "set data.path to {}'s {bin} (binary, {first} …) or {py} (python) directory, the directory that holds one, or {bin_tar} / {py_tar} itself; download from https://www.cs.toronto.edu/~kriz/cifar.html or with torchvision.datasets.{}(root, download=True)",
        which.name(),
        which.name().replace('-', "")
    )
}

/// Finds the CIFAR copy at `path`: a file is taken as an archive; in a directory, the binary
/// then the python files, in it or in their official sub-directory; then the official archives
/// in it.
pub fn locate(path: &Path, which: Cifar) -> Result<Source, DataError> {
    if path.is_file() {
        return Ok(Source::Archive(path.to_path_buf()));
    }
    for format in Format::BOTH {
        for dir in [path.to_path_buf(), path.join(format.subdir(which))] {
            if format.found_in(&dir, which) {
                return Ok(Source::Dir { dir, format });
            }
        }
    }
    for format in Format::BOTH {
        let archive = path.join(format.archive(which));
        if archive.is_file() {
            return Ok(Source::Archive(archive));
        }
    }
    Err(DataError::format(
        path,
        format!("holds no {} files; {}", which.name(), hint(which)),
    ))
}

/// One file of a split: its path (inside the archive for an archive), format and bytes.
pub type SplitFile = (PathBuf, Format, Vec<u8>);

impl Source {
    /// The files of the training or test split, in reading order.
    pub fn read(&self, which: Cifar, train: bool) -> Result<Vec<SplitFile>, DataError> {
        match self {
            Source::Dir { dir, format } => format
                .files(which, train)
                .into_iter()
                .map(|name| {
                    let file = dir.join(name);
                    if !file.is_file() {
                        return Err(DataError::Missing {
                            path: file,
                            hint: hint(which),
                        });
                    }
                    let bytes = std::fs::read(&file).map_err(|e| DataError::io(&file, e))?;
                    Ok((file, *format, bytes))
                })
                .collect(),
            Source::Archive(archive) => read_archive(archive, which, train),
        }
    }
}

/// The largest member of a CIFAR archive read: CIFAR-100's training split, 50,000 records of
/// 3,074 bytes (154 MB; its pickle is a little larger), with room to spare.
const MAX_MEMBER_BYTES: u64 = 256 << 20;

/// The split's members of a CIFAR `.tar.gz`, decompressed in memory as the archive streams by.
fn read_archive(archive: &Path, which: Cifar, train: bool) -> Result<Vec<SplitFile>, DataError> {
    let bad = |e: std::io::Error| {
        DataError::format(
            archive,
            format!("not a readable .tar.gz ({e}); a truncated download? fetch it again"),
        )
    };
    let members = |format: Format| -> Vec<String> {
        format
            .files(which, train)
            .into_iter()
            .map(|f| format!("{}/{f}", format.subdir(which)))
            .collect()
    };
    let wanted: Vec<String> = Format::BOTH.into_iter().flat_map(members).collect();
    let file = std::fs::File::open(archive).map_err(|e| DataError::io(archive, e))?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(file)));
    let mut found: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let complete = |found: &BTreeMap<String, Vec<u8>>| {
        Format::BOTH
            .into_iter()
            .find(|f| members(*f).iter().all(|m| found.contains_key(m)))
    };
    for entry in tar.entries().map_err(bad)? {
        let entry = entry.map_err(bad)?;
        let name = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        let name = name.trim_start_matches("./").to_string();
        if !wanted.contains(&name) {
            continue;
        }
        if entry.size() > MAX_MEMBER_BYTES {
            return Err(DataError::format(
                archive,
                format!(
                    "member {name} claims {} bytes, more than any CIFAR file ({MAX_MEMBER_BYTES}); a corrupt or hostile archive: fetch it again",
                    entry.size()
                ),
            ));
        }
        // Reserve what the header claims only up to 16 MiB: the stream, not a length field,
        // decides how much memory the member takes.
        let mut bytes = Vec::with_capacity(entry.size().min(16 << 20) as usize);
        entry
            .take(MAX_MEMBER_BYTES)
            .read_to_end(&mut bytes)
            .map_err(bad)?;
        found.insert(name, bytes);
        if complete(&found).is_some() {
            break;
        }
    }
    let Some(format) = complete(&found) else {
        let missing = &members(Format::Python)[0];
        return Err(DataError::format(
            archive,
            format!(
                "holds no {missing} nor {}: not a {} archive; {}",
                members(Format::Binary)[0],
                which.name(),
                hint(which)
            ),
        ));
    };
    Ok(members(format)
        .into_iter()
        .map(|m| {
            let bytes = found.remove(&m).unwrap_or_default();
            (archive.join(m), format, bytes)
        })
        .collect())
}
