//! Property tests of every reader of user files: the IDX, CIFAR binary, CIFAR pickle,
//! tar/gzip, image and config parsers get random bytes, truncations, bit flips and extreme
//! length fields, and must answer each with a value or a typed error, never a panic. CI runs
//! this binary under an address-space limit (`ulimit -v`, see `.ci/run`), so an allocation
//! that a hostile length field asks for aborts the run instead of passing unnoticed: every
//! reader must bound its memory by what the file's own size allows. The limit is set by the
//! binary itself (so `cargo test` runs under it too): what the process had mapped when the
//! first property started, plus [`HEADROOM`]; the files here are at most a few kB.
//!
//! `PROPTEST_CASES` sets the cases per property (256 by default, CI's size).

use std::io::Write;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use vgg_train::config::Experiment;
use vgg_train::config::ranges::RANGES;
use vgg_train::data::cifar::{Cifar, parse_pickle, parse_records, read_split};
use vgg_train::data::idx::{encode_idx, parse_idx, read_maybe_gz};
use vgg_train::data::pickle::Pickle;
use vgg_train::data::{MemoryImages, folder};

/// The address space any property may add to what the process had mapped (3 GiB).
const HEADROOM: u64 = 3 << 30;

/// Caps the process's address space (Linux), once, at its current size plus [`HEADROOM`]: an
/// allocation past it fails, which aborts the test binary.
fn limit_address_space() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(target_os = "linux")]
        {
            let status = std::fs::read_to_string("/proc/self/status").unwrap();
            let kib: u64 = status
                .lines()
                .find_map(|l| l.strip_prefix("VmSize:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                .expect("VmSize in /proc/self/status");
            let limit = kib * 1024 + HEADROOM;
            let rlimit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: libc::RLIM_INFINITY,
            };
            // SAFETY: setrlimit reads the struct it is given and nothing else.
            let rc = unsafe { libc::setrlimit(libc::RLIMIT_AS, &rlimit) };
            assert_eq!(rc, 0, "setrlimit(RLIMIT_AS)");
        }
    });
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cifar")
}

fn empty_set() -> MemoryImages {
    MemoryImages {
        channels: 3,
        height: 32,
        width: 32,
        pixels: Vec::new(),
        labels: Vec::new(),
    }
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// What a hostile user does to a good file: flip bits, overwrite 4-byte length fields with
/// extreme values, cut it short, or append garbage.
#[derive(Debug, Clone)]
enum Damage {
    Flip(usize, u8),
    Length(usize, u32),
    Truncate(usize),
    Append(Vec<u8>),
}

fn damage() -> impl Strategy<Value = Vec<Damage>> {
    let one = prop_oneof![
        (any::<usize>(), 0u8..8).prop_map(|(at, bit)| Damage::Flip(at, bit)),
        (
            any::<usize>(),
            prop_oneof![
                Just(0u32),
                Just(1),
                Just(u32::MAX),
                Just(i32::MAX as u32),
                Just(1 << 31),
                any::<u32>()
            ]
        )
            .prop_map(|(at, v)| Damage::Length(at, v)),
        any::<usize>().prop_map(Damage::Truncate),
        proptest::collection::vec(any::<u8>(), 1..64).prop_map(Damage::Append),
    ];
    proptest::collection::vec(one, 1..4)
}

fn apply(good: &[u8], damage: &[Damage]) -> Vec<u8> {
    let mut bytes = good.to_vec();
    for d in damage {
        if bytes.is_empty() {
            break;
        }
        let n = bytes.len();
        match d {
            Damage::Flip(at, bit) => bytes[at % n] ^= 1 << bit,
            Damage::Length(at, v) => {
                let at = at % n;
                for (i, b) in v.to_le_bytes().iter().enumerate() {
                    if at + i < n {
                        bytes[at + i] = *b;
                    }
                }
            }
            Damage::Truncate(at) => bytes.truncate(at % n),
            Damage::Append(extra) => bytes.extend(extra),
        }
    }
    bytes
}

/// A valid IDX images file: `n` images of 4 × 4.
fn idx_images(n: usize) -> Vec<u8> {
    encode_idx(&[n, 4, 4], &vec![7; n * 16])
}

/// Whether every float in `v` is finite.
fn all_finite(v: &toml::Value) -> bool {
    match v {
        toml::Value::Float(f) => f.is_finite(),
        toml::Value::Array(a) => a.iter().all(all_finite),
        toml::Value::Table(t) => t.values().all(all_finite),
        _ => true,
    }
}

proptest! {
    #[test]
    fn idx_parser_answers_any_bytes_with_a_value_or_an_error(
        bytes in proptest::collection::vec(any::<u8>(), 0..512)
    ) {
        limit_address_space();
        if let Ok(a) = parse_idx(&bytes, Path::new("x")) {
            prop_assert_eq!(a.data.len(), a.dims.iter().product::<usize>());
        }
    }

    #[test]
    fn idx_parser_survives_damaged_headers_and_bodies(d in damage(), n in 0usize..6) {
        limit_address_space();
        let bytes = apply(&idx_images(n), &d);
        if let Ok(a) = parse_idx(&bytes, Path::new("x")) {
            prop_assert_eq!(a.data.len(), a.dims.iter().product::<usize>());
        }
    }

    #[test]
    fn gzip_reader_never_inflates_past_its_limit(d in damage(), limit in 0u64..4096) {
        limit_address_space();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.gz");
        std::fs::write(&path, apply(&gzip(&idx_images(20)), &d)).unwrap();
        if let Ok(bytes) = read_maybe_gz(&path, limit) {
            // A file that no longer starts with the gzip magic is read as it is.
            let raw = std::fs::read(&path).unwrap();
            prop_assert!(bytes.len() as u64 <= limit || bytes == raw);
        }
    }

    #[test]
    fn cifar_binary_parser_answers_damaged_records(d in damage(), hundred in any::<bool>()) {
        limit_address_space();
        let (which, file) = if hundred {
            (Cifar::Hundred, "cifar-100-binary/train.bin")
        } else {
            (Cifar::Ten, "cifar-10-batches-bin/data_batch_1.bin")
        };
        let good = std::fs::read(fixtures().join(file)).unwrap();
        let bytes = apply(&good, &d);
        let mut set = empty_set();
        if parse_records(&bytes, which, Path::new("x"), &mut set).is_ok() {
            prop_assert_eq!(set.pixels.len(), set.labels.len() * 3072);
        }
    }

    #[test]
    fn pickle_machine_answers_any_bytes(
        bytes in proptest::collection::vec(any::<u8>(), 0..512)
    ) {
        limit_address_space();
        let _ = Pickle::parse(&bytes);
        let mut prefixed = b"\x80\x02".to_vec();
        prefixed.extend(&bytes);
        let _ = Pickle::parse(&prefixed);
    }

    #[test]
    fn cifar_pickle_reader_answers_damaged_batches(d in damage(), hundred in any::<bool>()) {
        limit_address_space();
        let (which, file) = if hundred {
            (Cifar::Hundred, "cifar-100-python/train")
        } else {
            (Cifar::Ten, "cifar-10-batches-py/data_batch_1")
        };
        let good = std::fs::read(fixtures().join(file)).unwrap();
        let bytes = apply(&good, &d);
        let mut set = empty_set();
        if parse_pickle(&bytes, which, Path::new("x"), &mut set).is_ok() {
            prop_assert_eq!(set.pixels.len(), set.labels.len() * 3072);
        }
    }

    #[test]
    fn cifar_archive_reader_answers_damaged_tar_gz(d in damage(), train in any::<bool>()) {
        limit_address_space();
        let good = std::fs::read(fixtures().join("cifar-10-python.tar.gz")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cifar-10-python.tar.gz");
        std::fs::write(&path, apply(&good, &d)).unwrap();
        if let Ok(set) = read_split(&path, Cifar::Ten, train) {
            prop_assert!(!set.labels.is_empty());
            prop_assert_eq!(set.pixels.len(), set.labels.len() * 3072);
        }
    }

    #[test]
    fn image_decoder_answers_damaged_png_and_jpeg(d in damage(), jpeg in any::<bool>()) {
        limit_address_space();
        let img = image::RgbImage::from_fn(9, 7, |x, y| image::Rgb([x as u8 * 20, y as u8 * 30, 90]));
        let mut good = std::io::Cursor::new(Vec::new());
        let format = if jpeg { image::ImageFormat::Jpeg } else { image::ImageFormat::Png };
        img.write_to(&mut good, format).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img");
        std::fs::write(&path, apply(good.get_ref(), &d)).unwrap();
        if let Ok(rgb) = folder::decode_rgb(&path) {
            prop_assert!(rgb.width() > 0 && rgb.height() > 0);
        }
    }

    #[test]
    fn config_parser_answers_damaged_configs(d in damage()) {
        limit_address_space();
        let good = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/vgg16.toml")).unwrap();
        let bytes = apply(&good, &d);
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(exp) = Experiment::from_toml_str(&text, Path::new("x.toml"), &[]) {
            // A config that passes validation serialises and reads back as itself.
            let again = Experiment::from_toml_str(&exp.to_toml(), Path::new("x.toml"), &[]);
            prop_assert!(again.is_ok(), "{:?}", again.err());
        }
    }

    #[test]
    fn config_parser_answers_every_numeric_key_with_any_value(
        key in prop::sample::select(RANGES.iter().map(|r| r.key).collect::<Vec<_>>()),
        value in prop_oneof![
            Just("nan".to_string()),
            Just("inf".to_string()),
            Just("-inf".to_string()),
            Just("1e308".to_string()),
            Just("-1".to_string()),
            Just("18446744073709551615".to_string()),
            Just("9223372036854775807".to_string()),
            Just("[]".to_string()),
            Just("\"\"".to_string()),
            any::<i64>().prop_map(|v| v.to_string()),
            any::<f64>().prop_map(|v| format!("{v:?}")),
        ]
    ) {
        limit_address_space();
        let (section, key) = key.split_once('.').unwrap();
        for value in [value.clone(), format!("[{value}, {value}, {value}]")] {
            let text = format!("[{section}]\n{key} = {value}\n");
            if let Ok(exp) = Experiment::from_toml_str(&text, Path::new("x.toml"), &[]) {
                // Whatever passes is finite wherever it is a number.
                let resolved: toml::Value = toml::from_str(&exp.to_toml()).unwrap();
                prop_assert!(all_finite(&resolved), "{}", exp.to_toml());
            }
        }
    }
}
