//! Helpers for the end-to-end tests: run the real binary, write tiny data sets in the official
//! formats into temporary directories.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `vgg-train` with `args` from the repository root.
pub fn vgg_train(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vgg-train"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("running vgg-train")
}

/// stdout and stderr as text.
pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Asserts a failure with `code`, a single-line `error:` message containing every `needle`,
/// and no panic or backtrace.
pub fn assert_clean_failure(out: &Output, code: i32, needles: &[&str]) {
    let (stdout, stderr) = text(out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("RUST_BACKTRACE"),
        "{stderr}"
    );
    for n in needles {
        assert!(stderr.contains(n), "missing {n:?} in: {stderr}");
    }
}

/// Reads a CSV file into its header and rows of strings.
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let header = r.headers().unwrap().iter().map(String::from).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(String::from).collect())
        .collect();
    (header, rows)
}

/// The value of `column` in `row`.
pub fn field<'a>(header: &[String], row: &'a [String], column: &str) -> &'a str {
    let i = header
        .iter()
        .position(|h| h == column)
        .unwrap_or_else(|| panic!("no column {column} in {header:?}"));
    &row[i]
}

/// Writes a config file and returns its path.
pub fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// A tiny CIFAR-10 binary set: `per_class` records per class in each batch file, where class
/// `c` is a bright square at a class-dependent position on a dark background.
pub fn write_cifar10(dir: &Path, per_class: usize) -> PathBuf {
    let root = dir.join("cifar-10-batches-bin");
    std::fs::create_dir_all(&root).unwrap();
    let batch = |seed: usize| {
        let mut bytes = Vec::new();
        for i in 0..per_class * 10 {
            let class = i % 10;
            bytes.push(class as u8);
            for c in 0..3 {
                for y in 0..32 {
                    for x in 0..32 {
                        let inside = y / 8 == class / 4 && x / 8 == class % 4;
                        let noise = ((i * 31 + y * 7 + x * 13 + c + seed) % 17) as u8;
                        bytes.push(if inside { 200 + noise } else { 20 + noise });
                    }
                }
            }
        }
        bytes
    };
    for b in 1..=5 {
        std::fs::write(root.join(format!("data_batch_{b}.bin")), batch(b)).unwrap();
    }
    std::fs::write(root.join("test_batch.bin"), batch(9)).unwrap();
    root
}

/// A tiny image folder: `train/` and `val/` with two classes (red and blue images), PNG and
/// JPEG files, one PNG named `.JPEG`, one grey JPEG, different sizes.
pub fn write_image_folder(dir: &Path, per_class: usize) -> PathBuf {
    let root = dir.join("folder");
    for split in ["train", "val"] {
        for (class, colour) in [("n01_red", [220u8, 30, 30]), ("n02_blue", [30, 30, 220])] {
            let d = root.join(split).join(class);
            std::fs::create_dir_all(&d).unwrap();
            for i in 0..per_class {
                let (w, h) = (40 + (i as u32 % 3) * 10, 36 + (i as u32 % 2) * 12);
                let img = image::RgbImage::from_fn(w, h, |x, y| {
                    let n = ((x * 7 + y * 3 + i as u32) % 20) as u8;
                    image::Rgb([colour[0] - n, colour[1] + n, colour[2] - n])
                });
                let (name, format) = match i % 3 {
                    0 => (format!("img{i}.png"), image::ImageFormat::Png),
                    1 => (format!("img{i}.JPEG"), image::ImageFormat::Png), // PNG named .JPEG
                    _ => (format!("img{i}.jpg"), image::ImageFormat::Jpeg),
                };
                img.save_with_format(d.join(name), format).unwrap();
            }
        }
        let grey = image::GrayImage::from_pixel(48, 40, image::Luma([90]));
        grey.save_with_format(
            root.join(split).join("n01_red").join("grey.jpg"),
            image::ImageFormat::Jpeg,
        )
        .unwrap();
    }
    root
}

/// Writes `<dir>/<name>.toml`: VGG-A at 1/16 width with a 16-unit compact head and He init,
/// one epoch at a constant rate, writing to `<dir>/out`; `data` is the body of `[data]`.
pub fn tiny_config(dir: &Path, name: &str, data: &str, batch_size: usize) -> PathBuf {
    write_config(
        dir,
        &format!("{name}.toml"),
        &format!(
            r#"name = "{name}"
[model]
arch = "A"
width = 0.0625
head = "compact"
hidden = 16
init = "kaiming"
[data]
{data}
[train]
epochs = 1
batch_size = {batch_size}
schedule = "constant"
[run]
output_dir = {:?}
"#,
            dir.join("out").display().to_string()
        ),
    )
}

/// `--config configs/quickstart.toml --plain` with output under `out` and `--set` for each of
/// `extra`.
pub fn quickstart_args(out: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--config".into(),
        "configs/quickstart.toml".into(),
        "--plain".into(),
        "--set".into(),
        format!("run.output_dir={:?}", out.display().to_string()),
    ];
    for e in extra {
        args.push("--set".into());
        args.push(e.to_string());
    }
    args
}

/// Runs `vgg-train` with owned arguments.
pub fn vgg_train_owned(args: &[String]) -> Output {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    vgg_train(&refs)
}

/// Writes a CMYK JPEG (Adobe marker, as Photoshop writes them) of one colour.
pub fn write_cmyk_jpeg(path: &Path, w: u16, h: u16, cmyk: [u8; 4]) {
    let data: Vec<u8> = (0..w as usize * h as usize).flat_map(|_| cmyk).collect();
    jpeg_encoder::Encoder::new_file(path, 90)
        .unwrap()
        .encode(&data, w, h, jpeg_encoder::ColorType::Cmyk)
        .unwrap();
}

/// Writes the first half of a real JPEG: a truncated download.
pub fn write_truncated_jpeg(path: &Path) {
    let img = image::RgbImage::from_fn(64, 48, |x, y| {
        image::Rgb([(x * 4) as u8, (y * 5) as u8, 90])
    });
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Jpeg,
    )
    .unwrap();
    std::fs::write(path, &bytes[..bytes.len() / 2]).unwrap();
}

/// [`write_image_folder`] plus, in `val/n01_red/`, a CMYK JPEG (which must decode) and a
/// truncated JPEG (which must be skipped and counted).
pub fn write_image_folder_with_odd_files(dir: &Path, per_class: usize) -> PathBuf {
    let root = write_image_folder(dir, per_class);
    let red = root.join("val").join("n01_red");
    write_cmyk_jpeg(&red.join("cmyk.JPEG"), 44, 40, [0, 200, 200, 20]);
    write_truncated_jpeg(&red.join("truncated.JPEG"));
    root
}

/// Collects the values of every float tensor a module visits, in order.
pub struct Collect(pub Vec<Vec<f32>>);

impl burn::module::ModuleVisitor for Collect {
    fn visit_float<const D: usize>(
        &mut self,
        param: &burn::module::Param<burn::prelude::Tensor<D>>,
    ) {
        let values = param.val().into_data().convert::<f32>().try_into_vec();
        self.0.push(values.unwrap());
    }
}

/// Every float parameter and buffer of a model, in module order.
pub fn parameters(model: &vgg_train::model::Vgg) -> Vec<Vec<f32>> {
    use burn::module::Module;
    let mut c = Collect(Vec::new());
    model.visit(&mut c);
    c.0
}

/// The input of the torchvision fixtures (`scripts/peer/torchvision_fixture.py`, `sgd_steps_fixture.py`):
/// `sin(0.37n + 1.3c + 0.11h + 0.07w + 0.013hw/7)` in f64, then f32, for `batch` RGB images of `size`².
pub fn fixture_input(batch: usize, size: usize) -> Vec<f32> {
    let mut data = Vec::with_capacity(batch * 3 * size * size);
    for n in 0..batch {
        for c in 0..3 {
            for h in 0..size {
                for w in 0..size {
                    let (n, c, h, w) = (n as f64, c as f64, h as f64, w as f64);
                    let v = (0.37 * n + 1.3 * c + 0.11 * h + 0.07 * w + 0.013 * h * w / 7.0).sin();
                    data.push(v as f32);
                }
            }
        }
    }
    data
}

/// [`quickstart_args`] for a network and data small enough to train one epoch in seconds:
/// VGG-A at width 1/16 on 256 training images, `extra` appended.
pub fn tiny_quickstart_args(out: &Path, extra: &[&str]) -> Vec<String> {
    let mut all = vec![
        "model.width=0.0625",
        "model.hidden=16",
        "data.train_limit=256",
        "train.epochs=1",
    ];
    all.extend_from_slice(extra);
    quickstart_args(out, &all)
}

/// `max |a - b| <= tol · max(|b|)` per tensor, the largest violation named.
pub fn assert_tensors_close(ours: &[Vec<f32>], theirs: &[Vec<f32>], tol: f32, what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: tensor count");
    for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert_eq!(a.len(), b.len(), "{what}: tensor {i} size");
        let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
        let worst = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(
            worst <= tol * scale.max(1e-3),
            "{what}: tensor {i} ({} values) differs by {worst} (largest value {scale})",
            a.len()
        );
    }
}

/// The network of `tests/fixtures/torchvision/` (`scripts/peer/torchvision_fixture.py`): VGG-A
/// in torchvision's layout, paper head, at `width` with `hidden` units and `num_classes`.
pub fn fixture_vgg(
    width: f64,
    hidden: usize,
    num_classes: usize,
    batch_norm: bool,
) -> vgg_train::model::VggConfig {
    use vgg_train::config::{Head, Init, Kernels, LrnConfig};
    vgg_train::model::VggConfig {
        arch: vgg_train::arch::Arch::A,
        batch_norm,
        width,
        in_channels: 3,
        num_classes,
        head: Head::Paper,
        hidden,
        hidden_layers: 2,
        dropout: 0.5,
        init: Init::Kaiming,
        lrn: LrnConfig::default(),
        kernels: Kernels::Own,
    }
}

/// Every file under `dir` with its bytes, to show that a failed command changed nothing.
pub fn files_under(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    let mut files = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    files
}
