//! `vgg-train export`: weights out, for PyTorch. A [`Vgg`] as a safetensors file under
//! torchvision's names, and a JSON description that rebuilds the network where torchvision has
//! no class for it.
//!
//! Names follow `torchvision.models.vgg*`: `features.N.{weight,bias}` for convs (N is the
//! layer's index in `features`, which equals torchvision's), `features.N.{weight,bias,
//! running_mean,running_var,num_batches_tracked}` for batch norm, `classifier.{0,3,6}.*` for
//! the FC layers (torchvision's `Sequential(Linear, ReLU, Dropout, …)`), with Linear weights
//! transposed to PyTorch's `[out, in]`. `torchvision.models.vgg16()` (or `vgg16_bn`, …) loads
//! the file with `load_state_dict(..., strict=True)`; `scripts/export_check.py` rebuilds any
//! configuration from the JSON and checks its logits against the ones recorded there.

use std::path::{Path, PathBuf};

use burn::prelude::*;
use safetensors::{Dtype, tensor::TensorView};
use serde_json::{Value, json};

use crate::arch::Arch;
use crate::config::{Experiment, Head};
use crate::model::{self, Feature, Vgg, VggConfig};
use crate::results::{RunPaths, write_atomic};

mod error;
pub use error::ExportError;

/// One exported tensor: name, shape, and its values (f32, or i64 for `num_batches_tracked`).
struct Entry {
    name: String,
    shape: Vec<usize>,
    bytes: Vec<u8>,
    dtype: Dtype,
}

fn f32_entry<const D: usize>(name: String, t: Tensor<D>) -> Result<Entry, ExportError> {
    let shape = t.dims().to_vec();
    let values: Vec<f32> = match t.into_data().convert::<f32>().try_into_vec() {
        Ok(v) => v,
        Err(e) => {
            return Err(ExportError::Tensor {
                name,
                what: format!("{e:?}"),
            });
        }
    };
    Ok(Entry {
        name,
        shape,
        bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        dtype: Dtype::F32,
    })
}

/// torchvision's index of our `i`-th FC layer: `Sequential(Linear, ReLU, Dropout)` per hidden
/// layer, so 0, 3, 6.
pub fn classifier_index(i: usize) -> usize {
    3 * i
}

/// The network's tensors under torchvision's names, in `features` then `classifier` order.
fn entries(net: &Vgg) -> Result<Vec<Entry>, ExportError> {
    let mut out = Vec::new();
    for (i, layer) in net.features.iter().enumerate() {
        match layer {
            Feature::Conv(c) => {
                out.push(f32_entry(format!("features.{i}.weight"), c.weight.val())?);
                if let Some(b) = &c.bias {
                    out.push(f32_entry(format!("features.{i}.bias"), b.val())?);
                }
            }
            Feature::BatchNorm(bn) => {
                out.push(f32_entry(format!("features.{i}.weight"), bn.gamma.val())?);
                out.push(f32_entry(format!("features.{i}.bias"), bn.beta.val())?);
                let mean = bn.running_mean.value();
                out.push(f32_entry(format!("features.{i}.running_mean"), mean)?);
                let var = bn.running_var.value();
                out.push(f32_entry(format!("features.{i}.running_var"), var)?);
                // torchvision's buffer; used only when BN's momentum is None.
                out.push(Entry {
                    name: format!("features.{i}.num_batches_tracked"),
                    shape: Vec::new(),
                    bytes: 0i64.to_le_bytes().to_vec(),
                    dtype: Dtype::I64,
                });
            }
            Feature::Relu(_) | Feature::Lrn(_) | Feature::Pool(_) => {}
        }
    }
    for (i, fc) in net.classifier.iter().enumerate() {
        let n = classifier_index(i);
        // burn stores Linear weights as [in, out]; PyTorch as [out, in].
        out.push(f32_entry(
            format!("classifier.{n}.weight"),
            fc.weight.val().transpose(),
        )?);
        if let Some(b) = &fc.bias {
            out.push(f32_entry(format!("classifier.{n}.bias"), b.val())?);
        }
    }
    Ok(out)
}

/// The safetensors bytes of `net` under torchvision's names.
pub fn safetensors_bytes(net: &Vgg) -> Result<Vec<u8>, ExportError> {
    serialize(&entries(net)?)
}

/// `entries` as a safetensors file.
fn serialize(entries: &[Entry]) -> Result<Vec<u8>, ExportError> {
    let views = entries
        .iter()
        .map(|e| {
            TensorView::new(e.dtype, e.shape.clone(), &e.bytes)
                .map(|v| (e.name.clone(), v))
                .map_err(|err| ExportError::Tensor {
                    name: e.name.clone(),
                    what: err.to_string(),
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    // One key only: safetensors keeps the metadata in a HashMap, so several keys would come out
    // in a different order on each export (the configuration is in the JSON beside the file).
    let metadata = [("format".to_string(), "pt".to_string())];
    safetensors::serialize(views, Some(metadata.into_iter().collect())).map_err(|e| {
        ExportError::Tensor {
            name: "safetensors header".into(),
            what: e.to_string(),
        }
    })
}

/// torchvision's constructor for this network, if it has one: `vgg11`…`vgg19` (`_bn`) with
/// the paper's head and width, 3×3 convs throughout.
pub fn torchvision_name(vgg: &VggConfig) -> Option<String> {
    let base = match vgg.arch {
        Arch::A => "vgg11",
        Arch::B => "vgg13",
        Arch::D => "vgg16",
        Arch::E => "vgg19",
        _ => return None,
    };
    let standard = vgg.head == Head::Paper
        && vgg.width == 1.0
        && vgg.hidden == 4096
        && vgg.hidden_layers == 2
        && vgg.in_channels == 3;
    standard.then(|| format!("{base}{}", if vgg.batch_norm { "_bn" } else { "" }))
}

/// The layer list of `features`, enough to rebuild it in PyTorch.
fn feature_specs(net: &Vgg, vgg: &VggConfig) -> Vec<Value> {
    net.features
        .iter()
        .map(|layer| match layer {
            Feature::Conv(c) => {
                let [out_c, in_c, k, _] = c.weight.val().dims();
                json!({"type": "conv", "in": in_c, "out": out_c, "kernel": k,
                       "padding": k / 2, "bias": c.bias.is_some()})
            }
            Feature::BatchNorm(bn) => {
                json!({"type": "batch_norm", "features": bn.gamma.val().dims()[0],
                       "eps": bn.epsilon})
            }
            Feature::Relu(_) => json!({"type": "relu"}),
            Feature::Lrn(_) => json!({"type": "lrn", "size": vgg.lrn.size,
                "alpha": vgg.lrn.alpha * vgg.lrn.size as f64, "beta": vgg.lrn.beta, "k": vgg.lrn.k,
                "note": "torch.nn.LocalResponseNorm(size, alpha, beta, k): alpha is the paper's alpha times size"}),
            Feature::Pool(_) => json!({"type": "max_pool", "kernel": 2, "stride": 2}),
        })
        .collect()
}

/// A deterministic input both sides can build: `sin(0.37 · i)` over the flat index `i`.
pub fn check_input(shape: [usize; 4], device: &Device) -> Tensor<4> {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|i| (0.37 * i as f64).sin() as f32).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// The JSON description: the configuration, the layers, torchvision's constructor when it has
/// one, and the logits of [`check_input`] computed here.
pub fn description(
    net: &Vgg,
    vgg: &VggConfig,
    image_size: usize,
    device: &Device,
) -> Result<Value, ExportError> {
    let shape = [2, vgg.in_channels, image_size, image_size];
    let y = net.forward(check_input(shape, device));
    let cols = y.dims()[1];
    let flat: Vec<f32> =
        y.into_data()
            .convert::<f32>()
            .try_into_vec()
            .map_err(|e| ExportError::Tensor {
                name: "check logits".into(),
                what: format!("{e:?}"),
            })?;
    let logits: Vec<&[f32]> = flat.chunks(cols.max(1)).collect();
    let classifier: Vec<Value> = net
        .classifier
        .iter()
        .enumerate()
        .map(|(i, fc)| {
            let [d_in, d_out] = fc.weight.val().dims();
            json!({"index": classifier_index(i), "in": d_in, "out": d_out})
        })
        .collect();
    Ok(json!({
        "format": "vgg-train export 1",
        "arch": vgg.arch.name(),
        "torchvision": torchvision_name(vgg),
        "batch_norm": vgg.batch_norm,
        "width": vgg.width,
        "head": format!("{:?}", vgg.head).to_lowercase(),
        "num_classes": vgg.num_classes,
        "in_channels": vgg.in_channels,
        "image_size": image_size,
        "features": feature_specs(net, vgg),
        "avgpool": vgg.pool_out(),
        "classifier": classifier,
        "dropout": vgg.dropout,
        "check": {
            "input": "sin(0.37 * i) over the flat index i of a float32 tensor of this shape",
            "shape": shape,
            "logits": logits,
        },
    }))
}

/// What `vgg-train export` wrote.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The weights loaded.
    pub weights: PathBuf,
    /// The safetensors file.
    pub safetensors: PathBuf,
    /// The JSON description beside it.
    pub json: PathBuf,
    /// torchvision's constructor that loads the file, if any.
    pub torchvision: Option<String>,
    /// Tensors written.
    pub tensors: usize,
}

/// Refuses an `--out` that would overwrite what it exports or something that is not an
/// export: it must end in `.safetensors` (its JSON goes beside it with `.json`), and neither
/// file may be the weights being read.
fn check_outputs(weights: &Path, out: &Path) -> Result<(), ExportError> {
    let refuse = |why: String| {
        Err(ExportError::Out {
            path: out.to_path_buf(),
            why,
        })
    };
    if out.extension().is_none_or(|e| e != "safetensors") {
        return refuse(
            "--out must name a .safetensors file (the JSON description is written beside it as .json)".into(),
        );
    }
    let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    };
    for target in [out.to_path_buf(), out.with_extension("json")] {
        if same(&target, weights) {
            return refuse(format!(
                "{} is the weights file being exported; write the export elsewhere",
                target.display()
            ));
        }
    }
    Ok(())
}

/// Loads `exp`'s network with `weights` (default: the run's `model.bpk`; torchvision's `.pth`
/// and exported `.safetensors` files work too) and writes it to `out` (safetensors) and its
/// description beside it (`out` with `.json`), each atomically.
pub fn export(
    exp: &Experiment,
    weights: Option<&Path>,
    out: &Path,
) -> Result<Exported, ExportError> {
    let weights = weights
        .map(Path::to_path_buf)
        .unwrap_or_else(|| RunPaths::new(exp.run_dir()).best_model());
    check_outputs(&weights, out)?;
    let (_, device) = crate::device::open(&exp.run).map_err(ExportError::Device)?;
    let classes = crate::data::num_classes(exp);
    let vgg = VggConfig::from_experiment(exp, exp.data.channels, classes);
    let mut net = vgg.init(&device);
    model::load_weights_file(&mut net, &vgg, &weights)?;
    let entries = entries(&net)?;
    let tensors = entries.len();
    let bytes = serialize(&entries)?;
    let write = |path: &Path, bytes: &[u8]| {
        write_atomic(path, bytes).map_err(|error| ExportError::Write {
            path: path.to_path_buf(),
            error,
        })
    };
    write(out, &bytes)?;
    let json_path = out.with_extension("json");
    let text =
        serde_json::to_string_pretty(&description(&net, &vgg, exp.data.image_size, &device)?)
            .map_err(|e| ExportError::Tensor {
                name: "description".into(),
                what: e.to_string(),
            })?;
    write(&json_path, format!("{text}\n").as_bytes())?;
    Ok(Exported {
        weights,
        safetensors: out.to_path_buf(),
        json: json_path,
        torchvision: torchvision_name(&vgg),
        tensors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Init, Kernels, LrnConfig};

    fn small(arch: Arch, batch_norm: bool, head: Head) -> VggConfig {
        VggConfig {
            arch,
            batch_norm,
            width: 1.0 / 16.0,
            in_channels: 3,
            num_classes: 5,
            head,
            hidden: 8,
            hidden_layers: 2,
            dropout: 0.0,
            init: Init::Kaiming,
            lrn: LrnConfig::default(),
            kernels: Kernels::Own,
        }
    }

    fn logits(net: &Vgg, device: &Device) -> Vec<f32> {
        net.forward(check_input([2, 3, 32, 32], device))
            .into_data()
            .convert::<f32>()
            .try_into_vec()
            .unwrap()
    }

    #[test]
    fn every_configuration_round_trips_through_the_torchvision_loader() {
        let device = Device::flex();
        let dir = tempfile::tempdir().unwrap();
        for arch in Arch::ALL {
            for batch_norm in [false, true] {
                for head in [Head::Compact, Head::Paper] {
                    let vgg = small(arch, batch_norm, head);
                    device.seed(1);
                    let trained = vgg.init(&device.clone().autodiff());
                    // A training-mode forward moves BN's running statistics off 0 and 1.
                    let _ =
                        trained.forward(check_input([4, 3, 32, 32], &device.clone().autodiff()));
                    let net = trained.valid();
                    let path = dir.path().join("net.safetensors");
                    std::fs::write(&path, safetensors_bytes(&net).unwrap()).unwrap();
                    device.seed(2);
                    let mut fresh = vgg.init(&device);
                    assert_ne!(logits(&fresh, &device), logits(&net, &device));
                    model::load_weights_file(&mut fresh, &vgg, &path)
                        .unwrap_or_else(|e| panic!("{arch} bn={batch_norm} {head:?}: {e}"));
                    assert_eq!(
                        logits(&fresh, &device),
                        logits(&net, &device),
                        "{arch} bn={batch_norm} {head:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn names_and_shapes_are_torchvisions() {
        let device = Device::flex();
        let vgg = small(Arch::A, true, Head::Paper);
        let net = vgg.init(&device);
        let bytes = safetensors_bytes(&net).unwrap();
        let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let shape = |n: &str| st.tensor(n).unwrap().shape().to_vec();
        // vgg11_bn: conv 0, BN 1, ReLU 2, pool 3, conv 4, …; classifier Linear at 0, 3, 6.
        assert_eq!(shape("features.0.weight"), vec![4, 3, 3, 3]);
        assert_eq!(shape("features.1.running_var"), vec![4]);
        assert_eq!(shape("features.4.weight"), vec![8, 4, 3, 3]);
        assert_eq!(
            st.tensor("features.1.num_batches_tracked").unwrap().dtype(),
            Dtype::I64
        );
        // [out, in] as PyTorch's Linear: 32 channels × 7 × 7 in, 8 hidden units out.
        assert_eq!(shape("classifier.0.weight"), vec![8, 32 * 7 * 7]);
        assert_eq!(shape("classifier.3.weight"), vec![8, 8]);
        assert_eq!(shape("classifier.6.bias"), vec![5]);
        // 8 convs × (2 + 5 BN tensors) + 3 FC × 2.
        assert_eq!(st.names().len(), 8 * 7 + 6);
    }

    #[test]
    fn torchvision_has_a_class_only_for_its_four_standard_networks() {
        let paper = |arch, batch_norm| VggConfig {
            batch_norm,
            num_classes: 10,
            ..VggConfig::paper(arch)
        };
        assert_eq!(
            torchvision_name(&paper(Arch::D, false)).as_deref(),
            Some("vgg16")
        );
        assert_eq!(
            torchvision_name(&paper(Arch::E, true)).as_deref(),
            Some("vgg19_bn")
        );
        for arch in [Arch::ALrn, Arch::C, Arch::B5x5] {
            assert_eq!(torchvision_name(&paper(arch, false)), None, "{arch}");
        }
        assert_eq!(torchvision_name(&small(Arch::A, false, Head::Paper)), None);
    }
}
