//! `run.device` strings and the burn devices behind them. Backends other than flex are cargo
//! features; asking for one the binary lacks is an error naming the feature.

use burn::tensor::Device;

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
    /// Parses `flex`, `cuda:N`, `wgpu`, `tch:cpu` or `tch:cuda:N` (`cuda` alone is `cuda:0`).
    pub fn parse(s: &str) -> Result<DeviceSpec, String> {
        let index = |i: &str| {
            i.parse::<usize>()
                .map_err(|_| format!("bad device index {i:?} in {s:?}"))
        };
        let parts: Vec<&str> = s.trim().split(':').collect();
        match parts.as_slice() {
            ["flex"] | ["cpu"] => Ok(DeviceSpec::Flex),
            ["cuda"] => Ok(DeviceSpec::Cuda(0)),
            ["cuda", i] => Ok(DeviceSpec::Cuda(index(i)?)),
            ["wgpu"] => Ok(DeviceSpec::Wgpu),
            ["tch"] | ["tch", "cpu"] => Ok(DeviceSpec::TchCpu),
            ["tch", "cuda"] => Ok(DeviceSpec::TchCuda(0)),
            ["tch", "cuda", i] => Ok(DeviceSpec::TchCuda(index(i)?)),
            _ => Err(format!(
                "unknown device {s:?}; use flex, cuda:N, wgpu, tch:cpu or tch:cuda:N"
            )),
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

    /// The burn device, or an error naming the cargo feature to build with.
    pub fn device(self) -> Result<Device, String> {
        let missing = |f: &str| {
            Err(format!(
                "device {} needs a binary built with `--features {f}` (this one has: {})",
                self.name(),
                compiled_backends().join(", ")
            ))
        };
        match self {
            DeviceSpec::Flex => Ok(Device::flex()),
            #[cfg(feature = "cuda")]
            DeviceSpec::Cuda(i) => Ok(Device::cuda(i)),
            #[cfg(not(feature = "cuda"))]
            DeviceSpec::Cuda(_) => missing("cuda"),
            #[cfg(feature = "wgpu")]
            DeviceSpec::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(not(feature = "wgpu"))]
            DeviceSpec::Wgpu => missing("wgpu"),
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            DeviceSpec::TchCpu => Ok(Device::libtorch()),
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            DeviceSpec::TchCuda(i) => Ok(Device::libtorch_cuda(i)),
            #[cfg(not(feature = "tch"))]
            DeviceSpec::TchCpu | DeviceSpec::TchCuda(_) => missing("tch"),
        }
    }
}

/// The backends compiled into this binary.
pub fn compiled_backends() -> Vec<&'static str> {
    let mut v = vec!["flex"];
    if cfg!(feature = "cuda") {
        v.push("cuda");
    }
    if cfg!(feature = "wgpu") {
        v.push("wgpu");
    }
    if cfg!(feature = "tch") {
        v.push("tch");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_documented_form() {
        assert_eq!(DeviceSpec::parse("flex"), Ok(DeviceSpec::Flex));
        assert_eq!(DeviceSpec::parse("cuda:1"), Ok(DeviceSpec::Cuda(1)));
        assert_eq!(DeviceSpec::parse("wgpu"), Ok(DeviceSpec::Wgpu));
        assert_eq!(DeviceSpec::parse("tch:cpu"), Ok(DeviceSpec::TchCpu));
        assert_eq!(DeviceSpec::parse("tch:cuda:2"), Ok(DeviceSpec::TchCuda(2)));
        assert!(DeviceSpec::parse("cuda:x").is_err());
        assert!(
            DeviceSpec::parse("tpu")
                .unwrap_err()
                .contains("flex, cuda:N")
        );
    }

    #[test]
    fn flex_is_always_available() {
        assert!(DeviceSpec::Flex.device().is_ok());
    }

    #[cfg(not(feature = "cuda"))]
    #[test]
    fn a_backend_not_compiled_in_names_its_feature() {
        let err = DeviceSpec::Cuda(0).device().unwrap_err();
        assert!(err.contains("--features cuda"), "{err}");
    }
}
