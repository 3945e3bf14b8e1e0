//! The paper's Table 1 as data: each configuration is a list of layers that [`super::Vgg`]
//! walks. The table expresses what a channel list with `'M'` markers cannot: C's 1×1 convs and
//! A-LRN's LRN slot (and the 5×5 control net of §4.1).

use serde::{Deserialize, Serialize};

/// One entry of a configuration's feature extractor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerSpec {
    /// `kernel`×`kernel` conv, stride 1, "same" padding, `out` channels at width 1.0; then ReLU.
    Conv {
        /// Output channels at width 1.0.
        out: usize,
        /// Kernel side: 3 (most layers), 1 (config C) or 5 (the B-5x5 control).
        kernel: usize,
    },
    /// Local response normalisation (A-LRN only, after the first conv and its ReLU).
    Lrn,
    /// 2×2 max-pool, stride 2.
    Pool,
}

const fn c3(out: usize) -> LayerSpec {
    LayerSpec::Conv { out, kernel: 3 }
}
const fn c1(out: usize) -> LayerSpec {
    LayerSpec::Conv { out, kernel: 1 }
}
const fn c5(out: usize) -> LayerSpec {
    LayerSpec::Conv { out, kernel: 5 }
}
const M: LayerSpec = LayerSpec::Pool;
const LRN: LayerSpec = LayerSpec::Lrn;

#[rustfmt::skip]
const TABLE_A: &[LayerSpec] = &[c3(64), M, c3(128), M, c3(256), c3(256), M, c3(512), c3(512), M, c3(512), c3(512), M];
#[rustfmt::skip]
const TABLE_A_LRN: &[LayerSpec] = &[c3(64), LRN, M, c3(128), M, c3(256), c3(256), M, c3(512), c3(512), M, c3(512), c3(512), M];
#[rustfmt::skip]
const TABLE_B: &[LayerSpec] = &[c3(64), c3(64), M, c3(128), c3(128), M, c3(256), c3(256), M, c3(512), c3(512), M, c3(512), c3(512), M];
/// §4.1's shallow control: B with each pair of 3×3 convs replaced by one 5×5 conv.
#[rustfmt::skip]
const TABLE_B_5X5: &[LayerSpec] = &[c5(64), M, c5(128), M, c5(256), M, c5(512), M, c5(512), M];
#[rustfmt::skip]
const TABLE_C: &[LayerSpec] = &[c3(64), c3(64), M, c3(128), c3(128), M, c3(256), c3(256), c1(256), M, c3(512), c3(512), c1(512), M, c3(512), c3(512), c1(512), M];
#[rustfmt::skip]
const TABLE_D: &[LayerSpec] = &[c3(64), c3(64), M, c3(128), c3(128), M, c3(256), c3(256), c3(256), M, c3(512), c3(512), c3(512), M, c3(512), c3(512), c3(512), M];
#[rustfmt::skip]
const TABLE_E: &[LayerSpec] = &[c3(64), c3(64), M, c3(128), c3(128), M, c3(256), c3(256), c3(256), c3(256), M, c3(512), c3(512), c3(512), c3(512), M, c3(512), c3(512), c3(512), c3(512), M];

/// A ConvNet configuration of the paper's Table 1 (plus the B-5x5 control of §4.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Arch {
    /// 11 weight layers (VGG11).
    A,
    /// A with LRN after the first conv.
    #[serde(rename = "A-LRN")]
    ALrn,
    /// 13 weight layers (VGG13).
    B,
    /// B with each pair of 3×3 convs replaced by one 5×5 conv (§4.1's shallow net).
    #[serde(rename = "B-5x5")]
    B5x5,
    /// 16 weight layers, the last conv of blocks 3–5 is 1×1.
    C,
    /// 16 weight layers (VGG16).
    D,
    /// 19 weight layers (VGG19).
    E,
}

/// A name that is none of the paper's configurations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown arch {0:?}; expected one of A, A-LRN, B, B-5x5, C, D, E")]
pub struct UnknownArch(pub String);

impl Arch {
    /// Every configuration, in the paper's order.
    pub const ALL: [Arch; 7] = [
        Arch::A,
        Arch::ALrn,
        Arch::B,
        Arch::B5x5,
        Arch::C,
        Arch::D,
        Arch::E,
    ];

    /// The layer table.
    pub fn layers(self) -> &'static [LayerSpec] {
        match self {
            Arch::A => TABLE_A,
            Arch::ALrn => TABLE_A_LRN,
            Arch::B => TABLE_B,
            Arch::B5x5 => TABLE_B_5X5,
            Arch::C => TABLE_C,
            Arch::D => TABLE_D,
            Arch::E => TABLE_E,
        }
    }

    /// The paper's name ("A-LRN").
    pub fn name(self) -> &'static str {
        match self {
            Arch::A => "A",
            Arch::ALrn => "A-LRN",
            Arch::B => "B",
            Arch::B5x5 => "B-5x5",
            Arch::C => "C",
            Arch::D => "D",
            Arch::E => "E",
        }
    }

    /// Parses a paper name, in any case; the error lists the valid ones.
    pub fn parse(s: &str) -> Result<Arch, UnknownArch> {
        Arch::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownArch(s.to_string()))
    }

    /// Weight layers: convs plus the three FC layers of the paper's head.
    pub fn weight_layers(self) -> usize {
        self.conv_layers() + 3
    }

    /// Number of conv layers.
    pub fn conv_layers(self) -> usize {
        self.layers()
            .iter()
            .filter(|l| matches!(l, LayerSpec::Conv { .. }))
            .count()
    }

    /// Number of 2×2 max-pools (5 for every configuration).
    pub fn pools(self) -> usize {
        self.layers()
            .iter()
            .filter(|l| matches!(l, LayerSpec::Pool))
            .count()
    }
}

impl std::fmt::Display for Arch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// Channels of a conv at `width` (at least 1).
pub fn scaled_channels(out: usize, width: f64) -> usize {
    ((out as f64 * width).round() as usize).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weight_layer_counts_match_table_1() {
        let expect = [
            (Arch::A, 11),
            (Arch::ALrn, 11),
            (Arch::B, 13),
            (Arch::C, 16),
            (Arch::D, 16),
            (Arch::E, 19),
        ];
        for (arch, n) in expect {
            assert_eq!(arch.weight_layers(), n, "{arch}");
        }
        // Five 5x5 convs + three FC layers.
        assert_eq!(Arch::B5x5.weight_layers(), 8);
    }

    #[test]
    fn a_configurations_name_is_what_serde_writes_and_the_paper_order_is_its_order() {
        for arch in Arch::ALL {
            let json = serde_json::to_string(&arch).unwrap();
            assert_eq!(json, format!("\"{}\"", arch.name()));
            assert_eq!(serde_json::from_str::<Arch>(&json).unwrap(), arch);
        }
        assert_eq!(format!("{:<6}|", Arch::ALrn), "A-LRN |", "a width pads");
        // Reports sort groups by configuration: the derived order is the paper's.
        assert!(Arch::ALL.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn every_configuration_has_five_pools() {
        for arch in Arch::ALL {
            assert_eq!(arch.pools(), 5, "{arch}");
        }
    }

    #[test]
    fn lrn_sits_after_the_first_conv_of_a_lrn_only() {
        assert_eq!(Arch::ALrn.layers()[1], LayerSpec::Lrn);
        for arch in Arch::ALL.into_iter().filter(|a| *a != Arch::ALrn) {
            assert!(!arch.layers().contains(&LayerSpec::Lrn), "{arch}");
        }
    }

    #[test]
    fn c_has_1x1_convs_as_last_conv_of_blocks_3_to_5() {
        let blocks: Vec<Vec<LayerSpec>> = Arch::C
            .layers()
            .split(|l| *l == LayerSpec::Pool)
            .map(|b| b.to_vec())
            .collect();
        for (i, block) in blocks.iter().take(5).enumerate() {
            let last = *block.last().unwrap();
            let kernel = match last {
                LayerSpec::Conv { kernel, .. } => kernel,
                _ => unreachable!(),
            };
            assert_eq!(kernel, if i >= 2 { 1 } else { 3 }, "block {}", i + 1);
        }
    }

    #[test]
    fn names_parse_back_case_insensitively() {
        for arch in Arch::ALL {
            assert_eq!(Arch::parse(arch.name()).unwrap(), arch);
        }
        assert_eq!(Arch::parse("a-lrn").unwrap(), Arch::ALrn);
        let err = Arch::parse("F").unwrap_err();
        assert_eq!(err, UnknownArch("F".into()));
        let listed = err.to_string();
        let listed = listed.split("one of ").nth(1).unwrap();
        let names: Vec<&str> = Arch::ALL.iter().map(|a| a.name()).collect();
        assert_eq!(
            listed,
            names.join(", "),
            "the message lists every configuration"
        );
    }
}
