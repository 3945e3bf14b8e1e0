//! The syntax of `run.device`: which backend and which device, before any is opened. The
//! config deserialises `run.device` and `run.devices` into [`DeviceSpec`]s, once (a bad string
//! is a parse error naming the key and line); [`crate::device`] opens them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// A parsed `run.device`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    /// burn's pure-Rust CPU backend (always built).
    Flex,
    /// CUDA GPU `N` (feature `cuda`).
    Cuda(usize),
    /// The default wgpu adapter (feature `wgpu`).
    Wgpu,
    /// LibTorch on the CPU (feature `tch`).
    TchCpu,
    /// LibTorch on CUDA GPU `N` (feature `tch`).
    TchCuda(usize),
}

impl DeviceSpec {
    /// Parses `flex`, `cuda:N`, `wgpu`, `tch:cpu` or `tch:cuda:N` (`cuda` alone is `cuda:0`);
    /// `cpu` is the fastest CPU backend compiled in: LibTorch with the `tch` feature, else flex.
    pub fn parse(s: &str) -> Result<DeviceSpec, DeviceError> {
        let index = |i: &str| {
            i.parse::<usize>().map_err(|_| DeviceError::BadIndex {
                index: i.into(),
                given: s.into(),
            })
        };
        let parts: Vec<&str> = s.trim().split(':').collect();
        match parts.as_slice() {
            ["flex"] => Ok(DeviceSpec::Flex),
            ["cpu"] if cfg!(feature = "tch") => Ok(DeviceSpec::TchCpu),
            ["cpu"] => Ok(DeviceSpec::Flex),
            ["cuda"] => Ok(DeviceSpec::Cuda(0)),
            ["cuda", i] => Ok(DeviceSpec::Cuda(index(i)?)),
            ["wgpu"] => Ok(DeviceSpec::Wgpu),
            ["tch"] | ["tch", "cpu"] => Ok(DeviceSpec::TchCpu),
            ["tch", "cuda"] => Ok(DeviceSpec::TchCuda(0)),
            ["tch", "cuda", i] => Ok(DeviceSpec::TchCuda(index(i)?)),
            _ => Err(DeviceError::Unknown { given: s.into() }),
        }
    }

    /// The cargo feature that provides this backend (`None` for flex).
    pub fn feature(self) -> Option<&'static str> {
        match self {
            DeviceSpec::Flex => None,
            DeviceSpec::Cuda(_) => Some("cuda"),
            DeviceSpec::Wgpu => Some("wgpu"),
            DeviceSpec::TchCpu | DeviceSpec::TchCuda(_) => Some("tch"),
        }
    }

    /// Canonical name, as recorded in results.
    pub fn name(self) -> String {
        match self {
            DeviceSpec::Flex => "flex".into(),
            DeviceSpec::Cuda(i) => format!("cuda:{i}"),
            DeviceSpec::Wgpu => "wgpu".into(),
            DeviceSpec::TchCpu => "tch:cpu".into(),
            DeviceSpec::TchCuda(i) => format!("tch:cuda:{i}"),
        }
    }
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&self.name())
    }
}

impl Serialize for DeviceSpec {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DeviceSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DeviceSpec, D::Error> {
        let s = String::deserialize(d)?;
        DeviceSpec::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Why a device cannot be named or opened.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DeviceError {
    /// A device string of none of the known forms.
    #[error("unknown device {given:?}; use cpu, flex, cuda:N, wgpu, tch:cpu or tch:cuda:N")]
    Unknown {
        /// The string as given.
        given: String,
    },
    /// `cuda:x` with an `x` that is not a number.
    #[error("bad device index {index:?} in {given:?}")]
    BadIndex {
        /// The index part.
        index: String,
        /// The whole string.
        given: String,
    },
    /// A backend this binary was built without.
    #[error(
        "device {device} needs a binary built with `--features {feature}` (this one has: {compiled})"
    )]
    NotCompiled {
        /// The device's canonical name.
        device: String,
        /// The cargo feature that provides it.
        feature: &'static str,
        /// The backends this binary has, comma-separated.
        compiled: String,
    },
    /// A float type the backend cannot run.
    #[error(
        "run.precision = \"{precision}\" on {device}: {why}; use \"f32\" (half precision needs a GPU backend that supports it, see the README)"
    )]
    Precision {
        /// `f16` or `bf16`.
        precision: &'static str,
        /// The device's canonical name.
        device: String,
        /// What the backend said.
        why: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_written_by_its_canonical_name_and_read_back() {
        for (given, name) in [
            ("flex", "flex"),
            ("cuda", "cuda:0"),
            ("tch:cuda:1", "tch:cuda:1"),
        ] {
            let spec: DeviceSpec = serde_json::from_str(&format!("\"{given}\"")).unwrap();
            assert_eq!(serde_json::to_string(&spec).unwrap(), format!("\"{name}\""));
        }
        let err = serde_json::from_str::<DeviceSpec>("\"tpu:0\"").unwrap_err();
        assert!(err.to_string().contains("flex, cuda:N"), "{err}");
    }
}
