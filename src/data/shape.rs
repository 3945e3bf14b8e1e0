//! The network's input and output sizes implied by a config's data section, without reading
//! the images: the one answer to "how many classes" for the commands that build a network
//! before (or without) loading data (summary, bench, predict, export).

use crate::config::{DatasetKind, Experiment};

use super::folder;

/// Number of classes: `model.num_classes`, else the class folders under an image-folder data
/// set's `train/`, else the data set's standard count (1000 for an image folder not present).
pub fn num_classes(exp: &Experiment) -> usize {
    if exp.model.num_classes != 0 {
        return exp.model.num_classes;
    }
    if exp.data.dataset == DatasetKind::ImageFolder
        && let Ok(names) = folder::class_names(&exp.data.resolved_path().join("train"))
    {
        return names.len();
    }
    exp.data.dataset.standard_classes()
}

/// `(input channels, classes)` of `exp`'s network.
pub fn shape(exp: &Experiment) -> (usize, usize) {
    (exp.data.channels, num_classes(exp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_folder_counts_its_class_folders_and_num_classes_wins() {
        let dir = tempfile::tempdir().unwrap();
        for class in ["cat", "dog", "eel"] {
            std::fs::create_dir_all(dir.path().join("train").join(class)).unwrap();
        }
        let mut exp = Experiment::default();
        exp.data.dataset = DatasetKind::ImageFolder;
        exp.data.path = dir.path().to_path_buf();
        assert_eq!(shape(&exp), (3, 3));
        exp.model.num_classes = 7;
        assert_eq!(num_classes(&exp), 7);
        exp.model.num_classes = 0;
        exp.data.path = dir.path().join("absent");
        assert_eq!(num_classes(&exp), 1000);
    }
}
