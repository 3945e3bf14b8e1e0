//! Image folders in the ImageNet layout: `<root>/train/<class>/*` and `<root>/val/<class>/*`.
//! Class indices follow the sorted class-folder names. Files are decoded by content (a PNG named
//! `.JPEG` works), so every regular, non-hidden file counts as an image.

use std::path::{Path, PathBuf};

use image::{ImageReader, RgbImage};

use crate::error::DataError;

/// The images of one split: paths with class indices.
#[derive(Debug, Clone, PartialEq)]
pub struct FolderImages {
    /// `(path, class index)`, sorted by path.
    pub items: Vec<(PathBuf, usize)>,
}

const HINT: &str =
    "set data.path to a directory holding train/<class>/ and val/<class>/ image folders";

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let rd = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        out.push(entry.path());
    }
    out.sort();
    Ok(out)
}

/// Class names of a split directory: its sub-directories, sorted.
pub fn class_names(split_dir: &Path) -> Result<Vec<String>, DataError> {
    if !split_dir.is_dir() {
        return Err(DataError::Missing {
            path: split_dir.to_path_buf(),
            hint: HINT.into(),
        });
    }
    let names: Vec<String> = sorted_entries(split_dir)?
        .into_iter()
        .filter(|p| p.is_dir())
        .map(|p| {
            p.file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    if names.is_empty() {
        return Err(DataError::format(
            split_dir,
            "no class folders; expected <split>/<class>/<image> files",
        ));
    }
    Ok(names)
}

/// Lists the images of `split_dir` for the given `classes` (index = position in `classes`).
pub fn list_split(split_dir: &Path, classes: &[String]) -> Result<FolderImages, DataError> {
    let here = class_names(split_dir)?;
    if here != classes {
        let missing: Vec<&String> = classes.iter().filter(|c| !here.contains(c)).collect();
        let extra: Vec<&String> = here.iter().filter(|c| !classes.contains(c)).collect();
        return Err(DataError::format(
            split_dir,
            format!(
                "class folders differ from train/: missing {missing:?}, extra {extra:?}; both splits need the same class folders"
            ),
        ));
    }
    let mut items = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let dir = split_dir.join(class);
        let files: Vec<PathBuf> = sorted_entries(&dir)?
            .into_iter()
            .filter(|p| p.is_file())
            .collect();
        if files.is_empty() {
            return Err(DataError::format(
                &dir,
                "empty class folder; remove it or add its images",
            ));
        }
        items.extend(files.into_iter().map(|p| (p, label)));
    }
    Ok(FolderImages { items })
}

/// Names of the labels files looked for beside a flat `val/` directory, in order.
pub const VAL_LABEL_FILES: [&str; 3] = ["LOC_val_solution.csv", "val_labels.txt", "val.txt"];

/// The class list of the data set at `root`, without listing any image: the folder names of
/// `train/`; for a copy that holds only `val/`, those of `val/`'s class folders, or the sorted
/// labels of its labels file (ImageNet's wnids, whose sorted order is torchvision's).
pub fn class_list(root: &Path) -> Result<Vec<String>, DataError> {
    let train = root.join("train");
    if train.is_dir() {
        return class_names(&train);
    }
    let val = root.join("val");
    if val.is_dir() && sorted_entries(&val)?.iter().any(|p| p.is_dir()) {
        return class_names(&val);
    }
    let labels_file = VAL_LABEL_FILES
        .iter()
        .flat_map(|name| [root.join(name), val.join(name)])
        .find(|p| p.is_file())
        .ok_or_else(|| DataError::Missing {
            path: train.clone(),
            hint: HINT.into(),
        })?;
    let text = std::fs::read_to_string(&labels_file).map_err(|e| DataError::io(&labels_file, e))?;
    let csv = labels_file.extension().is_some_and(|e| e == "csv");
    let mut labels: Vec<String> = text
        .lines()
        .enumerate()
        .filter(|(i, l)| !l.trim().is_empty() && (!csv || *i > 0 || !l.starts_with("ImageId")))
        .filter_map(|(_, l)| {
            if csv {
                l.split_once(',')
                    .and_then(|(_, p)| p.split_whitespace().next())
            } else {
                l.split_whitespace().nth(1)
            }
            .map(str::to_string)
        })
        .collect();
    labels.sort();
    labels.dedup();
    if labels.iter().all(|l| l.parse::<usize>().is_ok()) {
        return Err(DataError::format(
            &labels_file,
            "labels are class indices, which name no classes; keep train/ (its folder names are the classes)",
        ));
    }
    Ok(labels)
}

/// The validation split: `val/<class>/…` folders, or (ImageNet as distributed) flat files in
/// `val/` with a labels file in `root` or `val/`: `LOC_val_solution.csv`
/// (`ImageId,PredictionString`, the first word of which is the wnid) or plain
/// `filename label` lines, the label a class name or a class index.
pub fn list_val(root: &Path, classes: &[String]) -> Result<FolderImages, DataError> {
    let val = root.join("val");
    let has_class_dirs = val.is_dir() && sorted_entries(&val)?.iter().any(|p| p.is_dir());
    if !val.is_dir() || has_class_dirs {
        return list_split(&val, classes);
    }
    let labels_file = VAL_LABEL_FILES
        .iter()
        .flat_map(|name| [root.join(name), val.join(name)])
        .find(|p| p.is_file())
        .ok_or_else(|| DataError::Missing {
            path: val.join(VAL_LABEL_FILES[0]),
            hint: "a flat val/ directory needs a labels file: LOC_val_solution.csv (as distributed with ImageNet) or val_labels.txt with `filename label` lines, or move the images into val/<class>/ folders".into(),
        })?;
    let text = std::fs::read_to_string(&labels_file).map_err(|e| DataError::io(&labels_file, e))?;
    let csv = labels_file.extension().is_some_and(|e| e == "csv");
    // File stem -> path, so that "ILSVRC2012_val_00000001" finds ".JPEG" (or any extension).
    let mut by_stem = std::collections::HashMap::new();
    for p in sorted_entries(&val)?.into_iter().filter(|p| p.is_file()) {
        if VAL_LABEL_FILES
            .iter()
            .any(|n| p.file_name().is_some_and(|f| f == *n))
        {
            continue;
        }
        let stem = p
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        by_stem.insert(stem, p);
    }
    let mut items = Vec::new();
    for (line_no, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || (csv && line_no == 0 && line.starts_with("ImageId")) {
            continue;
        }
        let bad =
            |msg: &str| DataError::format(&labels_file, format!("line {}: {msg}", line_no + 1));
        let (name, label) = if csv {
            let (id, pred) = line
                .split_once(',')
                .ok_or_else(|| bad("expected ImageId,PredictionString"))?;
            (
                id.trim(),
                pred.split_whitespace()
                    .next()
                    .ok_or_else(|| bad("empty PredictionString"))?,
            )
        } else {
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some(n), Some(l)) => (n, l),
                _ => return Err(bad("expected `filename label`")),
            }
        };
        let stem = Path::new(name)
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let path = by_stem
            .get(&stem)
            .ok_or_else(|| bad(&format!("no image {name:?} in {}", val.display())))?;
        let class = classes
            .iter()
            .position(|c| c == label)
            .or_else(|| label.parse::<usize>().ok().filter(|i| *i < classes.len()))
            .ok_or_else(|| {
                bad(&format!(
                    "label {label:?} is not one of the {} train/ classes",
                    classes.len()
                ))
            })?;
        items.push((path.clone(), class));
    }
    if items.is_empty() {
        return Err(DataError::format(&labels_file, "no labelled images"));
    }
    items.sort();
    Ok(FolderImages { items })
}

/// The most a decoder may allocate for one image (512 MiB: a 16384 × 10922 RGBA photo), and
/// its largest side: a header that claims more is refused before any pixel is allocated.
pub const MAX_DECODE_BYTES: u64 = 512 << 20;
/// The largest side of an image file read.
pub const MAX_DECODE_SIDE: u32 = 16384;

fn decode_limits() -> image::Limits {
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits.max_image_width = Some(MAX_DECODE_SIDE);
    limits.max_image_height = Some(MAX_DECODE_SIDE);
    limits
}

/// Decodes an image by its content (not its extension) and converts it to 8-bit RGB
/// (greyscale, CMYK-converted, palette and 16-bit images included).
pub fn decode_rgb(path: &Path) -> Result<RgbImage, DataError> {
    let mut reader = ImageReader::open(path)
        .map_err(|e| DataError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    reader.limits(decode_limits());
    let img = reader.decode().map_err(|e| DataError::Decode {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    if img.width() == 0 || img.height() == 0 {
        return Err(DataError::Decode {
            path: path.to_path_buf(),
            message: "the image has no pixels".into(),
        });
    }
    Ok(img.into_rgb8())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_png(path: &Path, w: u32, h: u32) {
        image::RgbImage::from_pixel(w, h, image::Rgb([10, 20, 30]))
            .save_with_format(path, image::ImageFormat::Png)
            .unwrap();
    }

    #[test]
    fn lists_classes_in_sorted_order_and_decodes_by_content() {
        let root = tempfile::tempdir().unwrap();
        for class in ["zebra", "ant"] {
            std::fs::create_dir_all(root.path().join("train").join(class)).unwrap();
        }
        // A PNG with a .JPEG name, as in ImageNet's training set.
        write_png(&root.path().join("train/zebra/a.JPEG"), 5, 4);
        write_png(&root.path().join("train/ant/b.png"), 3, 3);
        let classes = class_names(&root.path().join("train")).unwrap();
        assert_eq!(classes, vec!["ant", "zebra"]);
        let split = list_split(&root.path().join("train"), &classes).unwrap();
        assert_eq!(split.items.len(), 2);
        assert_eq!(split.items[1].1, 1);
        let img = decode_rgb(&split.items[1].0).unwrap();
        assert_eq!(img.dimensions(), (5, 4));
        assert_eq!(img.get_pixel(0, 0).0, [10, 20, 30]);
    }

    #[test]
    fn empty_class_folder_is_an_error_naming_it() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("train/cat")).unwrap();
        let classes = class_names(&root.path().join("train")).unwrap();
        let err = list_split(&root.path().join("train"), &classes)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("train/cat") && err.contains("empty class folder"),
            "{err}"
        );
    }

    #[test]
    fn val_classes_must_match_train_classes() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("val/dog")).unwrap();
        write_png(&root.path().join("val/dog/x.png"), 2, 2);
        let err = list_split(&root.path().join("val"), &["cat".to_string()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("missing [\"cat\"]") && err.contains("extra [\"dog\"]"),
            "{err}"
        );
    }

    fn flat_val(root: &Path, labels_name: &str, labels: &str) {
        std::fs::create_dir_all(root.join("val")).unwrap();
        for (i, _) in labels.lines().enumerate() {
            write_png(
                &root.join(format!("val/ILSVRC2012_val_{:08}.JPEG", i + 1)),
                2,
                2,
            );
        }
        let body: String = labels
            .lines()
            .enumerate()
            .map(|(i, l)| format!("ILSVRC2012_val_{:08},{l} 1 2 3 4\n", i + 1))
            .collect();
        std::fs::write(
            root.join(labels_name),
            format!("ImageId,PredictionString\n{body}"),
        )
        .unwrap();
    }

    #[test]
    fn flat_val_reads_imagenets_loc_val_solution_csv() {
        let root = tempfile::tempdir().unwrap();
        flat_val(root.path(), "LOC_val_solution.csv", "n02\nn01\nn02");
        let classes = vec!["n01".to_string(), "n02".to_string()];
        let val = list_val(root.path(), &classes).unwrap();
        let labels: Vec<usize> = val.items.iter().map(|i| i.1).collect();
        assert_eq!(labels, vec![1, 0, 1]);
        assert!(val.items[0].0.ends_with("val/ILSVRC2012_val_00000001.JPEG"));
    }

    #[test]
    fn flat_val_reads_plain_filename_label_lines_and_rejects_unknown_classes() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("val")).unwrap();
        write_png(&root.path().join("val/a.png"), 2, 2);
        write_png(&root.path().join("val/b.png"), 2, 2);
        std::fs::write(root.path().join("val_labels.txt"), "a.png 1\nb.png n01\n").unwrap();
        let classes = vec!["n01".to_string(), "n02".to_string()];
        let val = list_val(root.path(), &classes).unwrap();
        assert_eq!(
            val.items.iter().map(|i| i.1).collect::<Vec<_>>(),
            vec![1, 0]
        );
        std::fs::write(root.path().join("val_labels.txt"), "a.png n99\n").unwrap();
        let err = list_val(root.path(), &classes).unwrap_err().to_string();
        assert!(
            err.contains("val_labels.txt") && err.contains("line 1") && err.contains("n99"),
            "{err}"
        );
        std::fs::remove_file(root.path().join("val_labels.txt")).unwrap();
        let err = list_val(root.path(), &classes).unwrap_err().to_string();
        assert!(err.contains("LOC_val_solution.csv"), "{err}");
    }

    #[test]
    fn a_header_claiming_a_huge_image_is_refused_before_allocating_it() {
        // A PNG whose IHDR claims 100,000 × 100,000 RGBA pixels (40 GB) and holds none.
        let mut ihdr = b"IHDR".to_vec();
        ihdr.extend(100_000u32.to_be_bytes());
        ihdr.extend(100_000u32.to_be_bytes());
        ihdr.extend([8, 6, 0, 0, 0]);
        let mut crc = flate2::Crc::new();
        crc.update(&ihdr);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        png.extend(13u32.to_be_bytes());
        png.extend(&ihdr);
        png.extend(crc.sum().to_be_bytes());
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("huge.png");
        std::fs::write(&p, png).unwrap();
        let err = decode_rgb(&p).unwrap_err().to_string();
        assert!(err.contains("huge.png") && err.contains("limit"), "{err}");
    }

    #[test]
    fn unreadable_image_is_a_decode_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("broken.jpg");
        std::fs::write(&p, b"\xff\xd8\xff\xe0 not really a jpeg").unwrap();
        let err = decode_rgb(&p).unwrap_err().to_string();
        assert!(
            err.contains("broken.jpg") && err.contains("cannot decode"),
            "{err}"
        );
    }
}
