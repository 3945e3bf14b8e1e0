//! torchvision's VGG weights (`vgg16-397923af.pth`, `vgg11_bn-6002323d.pth`, …, or a
//! `.safetensors` file under the same names, as `vgg-train export` writes) loaded into a
//! [`Vgg`]. torchvision's `features.N` indices equal ours (conv, [BN], ReLU, pool in the same
//! order), `classifier.{0,3,6}` become our `classifier.{0,1,2}`, and burn-store's PyTorch
//! adapter transposes the Linear weights and renames BN's `weight`/`bias`.

use std::collections::BTreeSet;
use std::path::Path;

use burn::store::{
    ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore,
};

use super::Vgg;
use super::VggConfig;
use super::WeightsError;
use crate::arch::Arch;

/// What a torchvision VGG state dict holds, read from its keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TorchvisionLayout {
    /// Conv layers in `features`.
    pub convs: usize,
    /// Whether `features` has BN layers (`vgg*_bn`).
    pub batch_norm: bool,
}

impl TorchvisionLayout {
    /// Reads the layout from state-dict keys such as `features.0.weight`.
    pub fn from_keys<'a>(keys: impl IntoIterator<Item = &'a str>) -> TorchvisionLayout {
        let mut weights = BTreeSet::new();
        let mut norms = BTreeSet::new();
        for key in keys {
            let parts: Vec<&str> = key.split('.').collect();
            if let ["features", index, last] = parts[..] {
                match last {
                    "weight" => weights.insert(index.to_string()),
                    "running_mean" => norms.insert(index.to_string()),
                    _ => false,
                };
            }
        }
        TorchvisionLayout {
            convs: weights.len() - norms.len(),
            batch_norm: !norms.is_empty(),
        }
    }

    /// torchvision's name for the layout and the paper configuration it is.
    pub fn describe(&self) -> String {
        let name = match self.convs {
            8 => "vgg11 (configuration A)",
            10 => "vgg13 (configuration B)",
            13 => "vgg16 (configuration D)",
            16 => "vgg19 (configuration E)",
            _ => "a VGG",
        };
        format!(
            "{name}{} with {} conv layers",
            if self.batch_norm {
                " with batch norm"
            } else {
                ""
            },
            self.convs
        )
    }

    /// The configuration whose conv count matches (`C` is not among torchvision's models).
    pub fn arch(&self) -> Option<Arch> {
        match self.convs {
            8 => Some(Arch::A),
            10 => Some(Arch::B),
            13 => Some(Arch::D),
            16 => Some(Arch::E),
            _ => None,
        }
    }
}

/// Loads a torchvision VGG state dict (`.pth`, or `.safetensors` under torchvision's names)
/// into `model`, built from `vgg`; returns the number of tensors applied, or why not, naming
/// the config keys to change.
pub fn load_torchvision(
    model: &mut Vgg,
    vgg: &VggConfig,
    path: &Path,
) -> Result<usize, WeightsError> {
    if path.extension().is_some_and(|e| e == "safetensors") {
        let store = SafetensorsStore::from_file(path)
            .with_from_adapter(PyTorchToBurnAdapter)
            // Off by default for safetensors: classifier.{0,3,6} → {0,1,2}, features as is.
            .map_indices_contiguous(true)
            .map_indices_contiguous_except(r"^features$")
            // `features.0.Conv.weight` in burn's paths is torchvision's `features.0.weight`.
            .skip_enum_variants(true)
            // A mismatch comes back in the structured `ApplyResult`, not as an error's text.
            .validate(false)
            .allow_partial(true);
        load_store(model, vgg, path, store)
    } else {
        let store = PytorchStore::from_file(path)
            .map_indices_contiguous_except(r"^features$")
            .validate(false)
            .allow_partial(true);
        load_store(model, vgg, path, store)
    }
}

/// [`load_torchvision`] from an opened store.
fn load_store<S: ModuleStore>(
    model: &mut Vgg,
    vgg: &VggConfig,
    path: &Path,
    mut store: S,
) -> Result<usize, WeightsError> {
    let keys = store.keys().map_err(|e| WeightsError::NotStateDict {
        path: path.to_path_buf(),
        what: one_line(&e),
    })?;
    let layout = TorchvisionLayout::from_keys(keys.iter().map(String::as_str));
    if layout.convs == 0 {
        return Err(WeightsError::NotTorchvisionVgg {
            path: path.to_path_buf(),
        });
    }
    if layout.convs != vgg.arch.conv_layers() || layout.batch_norm != vgg.batch_norm {
        let fix = match layout.arch() {
            Some(arch) => format!(
                "set model.arch = \"{}\" and model.batch_norm = {}",
                arch.name(),
                layout.batch_norm
            ),
            None => "use a torchvision VGG state dict".into(),
        };
        let bn = if vgg.batch_norm {
            " with batch norm"
        } else {
            ""
        };
        return Err(WeightsError::OtherConfiguration {
            path: path.to_path_buf(),
            found: layout.describe(),
            wanted: format!("{}{bn}", vgg.arch.name()),
            fix,
        });
    }
    let result = model
        .load_from(&mut store)
        .map_err(|e| WeightsError::Read {
            path: path.to_path_buf(),
            what: one_line(&e),
        })?;
    let unused: Vec<&String> = result
        .unused
        .iter()
        .filter(|k| !k.ends_with("num_batches_tracked"))
        .collect();
    if let Some(e) = result.errors.first() {
        return Err(WeightsError::Shape {
            path: path.to_path_buf(),
            what: one_line(e),
        });
    }
    if !result.missing.is_empty() || !unused.is_empty() {
        return Err(WeightsError::Tensors {
            path: path.to_path_buf(),
            missing: result.missing.len(),
            first_missing: result.missing.first().map(|m| m.0.clone()),
            unexpected: unused.len(),
            first_unexpected: unused.first().map(|k| k.to_string()),
        });
    }
    Ok(result.applied.len())
}

fn one_line(e: &dyn std::fmt::Display) -> String {
    crate::util::one_line(&e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_read_from_the_keys() {
        let vgg16 = [
            "features.0.weight",
            "features.0.bias",
            "features.2.weight",
            "classifier.0.weight",
        ];
        assert_eq!(
            TorchvisionLayout::from_keys(vgg16),
            TorchvisionLayout {
                convs: 2,
                batch_norm: false
            }
        );
        let bn = [
            "features.0.weight",
            "features.1.weight",
            "features.1.running_mean",
            "features.1.running_var",
        ];
        let layout = TorchvisionLayout::from_keys(bn);
        assert_eq!((layout.convs, layout.batch_norm), (1, true));
        assert_eq!(Arch::D.conv_layers(), 13);
        assert_eq!(Arch::E.conv_layers(), 16);
    }
}
