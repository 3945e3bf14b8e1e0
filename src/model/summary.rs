//! The layer table printed by `vgg-train summary`: output shapes, parameters, multiply-adds
//! and receptive fields, computed from the architecture table alone.

use super::VggConfig;
use crate::arch::{LayerSpec, scaled_channels};

/// One printed row.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    /// Layer name, e.g. `conv3-64`, `maxpool`, `fc-4096`.
    pub layer: String,
    /// Output shape without the batch dimension: `[C, H, W]` or `[F]`.
    pub shape: Vec<usize>,
    /// Trainable parameters of the layer (BN's γ and β included).
    pub params: usize,
    /// Multiply-accumulates per image.
    pub macs: usize,
    /// Receptive field (pixels of the input one output unit sees) after this layer; 0 for FC.
    pub receptive_field: usize,
}

/// The rows for `cfg` at `image_size`×`image_size`.
pub fn rows(cfg: &VggConfig, image_size: usize) -> Vec<SummaryRow> {
    let mut rows = Vec::new();
    let (mut c, mut s) = (cfg.in_channels, image_size);
    // Receptive field r and jump j (input pixels between adjacent units).
    let (mut r, mut j) = (1usize, 1usize);
    for spec in cfg.arch.layers() {
        match *spec {
            LayerSpec::Conv { out, kernel } => {
                let c_out = scaled_channels(out, cfg.width);
                r += (kernel - 1) * j;
                let bn = if cfg.batch_norm { 2 * c_out } else { 0 };
                rows.push(SummaryRow {
                    layer: format!(
                        "conv{kernel}-{c_out}{}",
                        if cfg.batch_norm { "+bn" } else { "" }
                    ),
                    shape: vec![c_out, s, s],
                    params: kernel * kernel * c * c_out + c_out + bn,
                    macs: kernel * kernel * c * c_out * s * s,
                    receptive_field: r,
                });
                c = c_out;
            }
            LayerSpec::Lrn => rows.push(SummaryRow {
                layer: format!("lrn-{}", cfg.lrn.size),
                shape: vec![c, s, s],
                params: 0,
                macs: 0,
                receptive_field: r,
            }),
            LayerSpec::Pool => {
                r += j;
                j *= 2;
                s /= 2;
                rows.push(SummaryRow {
                    layer: "maxpool".into(),
                    shape: vec![c, s, s],
                    params: 0,
                    macs: 0,
                    receptive_field: r,
                });
            }
        }
    }
    let p = cfg.pool_out();
    rows.push(SummaryRow {
        layer: format!("avgpool-{p}x{p}"),
        shape: vec![c, p, p],
        params: 0,
        macs: 0,
        receptive_field: r,
    });
    for w in cfg.classifier_dims().windows(2) {
        rows.push(SummaryRow {
            layer: format!("fc-{}", w[1]),
            shape: vec![w[1]],
            params: w[0] * w[1] + w[1],
            macs: w[0] * w[1],
            receptive_field: 0,
        });
    }
    rows
}

/// Trainable parameters of the network built from `cfg` (independent of the input size).
pub fn param_count(cfg: &VggConfig) -> usize {
    rows(cfg, 224).iter().map(|r| r.params).sum()
}

/// Channels with batch normalisation (0 without BN).
pub fn bn_channels(cfg: &VggConfig) -> usize {
    if !cfg.batch_norm {
        return 0;
    }
    cfg.arch
        .layers()
        .iter()
        .map(|l| match l {
            LayerSpec::Conv { out, .. } => scaled_channels(*out, cfg.width),
            _ => 0,
        })
        .sum()
}

/// Multiply-accumulates per image at `image_size` (the "GFLOPs" of torchvision's docs).
pub fn macs(cfg: &VggConfig, image_size: usize) -> usize {
    rows(cfg, image_size).iter().map(|r| r.macs).sum()
}

/// The table as text: one row per layer, then `params: N` on the last line.
pub fn render(cfg: &VggConfig, image_size: usize) -> String {
    let rows = rows(cfg, image_size);
    let mut out = format!(
        "{:<16} {:>16} {:>14} {:>16} {:>6}\n",
        "layer", "output", "params", "MACs", "RF"
    );
    for row in &rows {
        let shape = row
            .shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join("x");
        let rf = if row.receptive_field == 0 {
            "-".to_string()
        } else {
            row.receptive_field.to_string()
        };
        out += &format!(
            "{:<16} {:>16} {:>14} {:>16} {:>6}\n",
            row.layer, shape, row.params, row.macs, rf
        );
    }
    let total: usize = rows.iter().map(|r| r.params).sum();
    let gmacs = rows.iter().map(|r| r.macs).sum::<usize>() as f64 / 1e9;
    out += &format!(
        "arch: {}  weight layers: {}  input: {}x{}x{}  GMACs: {:.3}\n",
        cfg.arch,
        cfg.arch.weight_layers(),
        cfg.in_channels,
        image_size,
        image_size,
        gmacs
    );
    out += &format!("params: {total}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arch::Arch;

    #[test]
    fn gmacs_at_224_match_torchvision() {
        for (arch, gmacs) in [
            (Arch::A, 7.609),
            (Arch::B, 11.308),
            (Arch::C, 11.771),
            (Arch::D, 15.470),
            (Arch::E, 19.632),
        ] {
            let got = macs(&VggConfig::paper(arch), 224) as f64 / 1e9;
            assert!((got - gmacs).abs() < 0.001, "{arch}: {got}");
        }
    }

    #[test]
    fn stacked_3x3_convs_see_5x5_and_7x7() {
        // Block 1 of B: two 3x3 convs -> receptive field 5, the same as B-5x5's one 5x5 conv.
        let b = rows(&VggConfig::paper(Arch::B), 224);
        assert_eq!(b[1].receptive_field, 5);
        let b5 = rows(&VggConfig::paper(Arch::B5x5), 224);
        assert_eq!(b5[0].receptive_field, 5);
        // Three 3x3 convs (block 3 of D) add 3 * 2 * 4 = 24 after the two pools.
        let d = rows(&VggConfig::paper(Arch::D), 224);
        let block3: Vec<usize> = d[6..9].iter().map(|r| r.receptive_field).collect();
        assert_eq!(block3, vec![24, 32, 40]);
        // Two 3x3 convs have fewer weights than one 5x5 over the same field (18C^2 vs 25C^2):
        // block 5 of B against block 5 of B-5x5.
        assert_eq!(
            (b[12].layer.as_str(), b5[8].layer.as_str()),
            ("conv3-512", "conv5-512")
        );
        assert!(b[12].params + b[13].params < b5[8].params);
    }

    #[test]
    fn render_ends_with_the_parameter_count() {
        let text = render(&VggConfig::paper(Arch::D), 224);
        assert!(text.trim_end().ends_with("params: 138357544"), "{text}");
    }
}
