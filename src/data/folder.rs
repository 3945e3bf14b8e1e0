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

/// Decodes an image by its content (not its extension) and converts it to 8-bit RGB
/// (greyscale, CMYK-converted, palette and 16-bit images included).
pub fn decode_rgb(path: &Path) -> Result<RgbImage, DataError> {
    let reader = ImageReader::open(path)
        .map_err(|e| DataError::io(path, e))?
        .with_guessed_format()
        .map_err(|e| DataError::io(path, e))?;
    let img = reader.decode().map_err(|e| DataError::Decode {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(img.to_rgb8())
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
