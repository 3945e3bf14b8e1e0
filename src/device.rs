//! `run.device` strings and the burn devices behind them. Backends other than flex are cargo
//! features; asking for one the binary lacks is an error naming the feature.

use burn::tensor::Device;

pub use crate::config::{DeviceError, DeviceSpec};
use crate::config::{Precision, RunConfig};

impl DeviceSpec {
    /// The burn device, or an error naming the cargo feature to build with.
    pub fn device(self) -> Result<Device, DeviceError> {
        #[allow(dead_code)] // every backend may be compiled in
        let missing = || {
            Err(DeviceError::NotCompiled {
                device: self.name(),
                feature: self.feature().unwrap_or("flex"),
                compiled: compiled_backends().join(", "),
            })
        };
        match self {
            DeviceSpec::Flex => Ok(Device::flex()),
            #[cfg(feature = "cuda")]
            DeviceSpec::Cuda(i) => Ok(Device::cuda(i)),
            #[cfg(not(feature = "cuda"))]
            DeviceSpec::Cuda(_) => missing(),
            #[cfg(feature = "wgpu")]
            DeviceSpec::Wgpu => Ok(Device::wgpu(burn::tensor::DeviceKind::DefaultDevice)),
            #[cfg(not(feature = "wgpu"))]
            DeviceSpec::Wgpu => missing(),
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            DeviceSpec::TchCpu => Ok(Device::libtorch()),
            #[cfg(feature = "tch")]
            #[allow(deprecated)]
            DeviceSpec::TchCuda(i) => Ok(Device::libtorch_cuda(i)),
            #[cfg(not(feature = "tch"))]
            DeviceSpec::TchCpu | DeviceSpec::TchCuda(_) => missing(),
        }
    }
}

/// Sets the float type of every tensor later created on `device` (call it before creating
/// any): `f32` leaves the backend's default; `f16`/`bf16` run the whole network, weights and
/// optimiser state in half precision where the backend supports that type.
pub fn set_precision(
    device: &Device,
    spec: DeviceSpec,
    precision: Precision,
) -> Result<(), DeviceError> {
    use burn::tensor::FloatDType;
    let dtype = match precision {
        Precision::F32 => return Ok(()),
        Precision::F16 => FloatDType::F16,
        Precision::Bf16 => FloatDType::BF16,
    };
    let current = device.settings().float_dtype;
    if current == dtype {
        return Ok(());
    }
    device
        .clone()
        .configure(dtype)
        .map_err(|e| DeviceError::Precision {
            precision: precision.name(),
            device: spec.name(),
            why: crate::util::one_line(&format!("{e:?}")),
        })
}

/// The devices of `[run]`: `run.devices` when given (the first is the main device, which
/// validates and checkpoints), else `run.device`.
pub fn run_devices(run: &RunConfig) -> Vec<DeviceSpec> {
    if run.devices.is_empty() {
        vec![run.device]
    } else {
        run.devices.clone()
    }
}

/// Opens `run.device` at `run.precision`: the one way a command that runs on one device gets
/// it (training on several opens each of [`run_devices`]).
pub fn open(run: &RunConfig) -> Result<(DeviceSpec, Device), DeviceError> {
    let spec = run.device;
    let device = spec.device()?;
    set_precision(&device, spec, run.precision)?;
    Ok((spec, device))
}

/// The device as it names itself (`NVIDIA H200`, `llvmpipe (LLVM 15.0.6, 256 bits)`), where the
/// backend reports one; else the device string. Opens the device.
pub fn adapter_name(spec: DeviceSpec, device: &Device) -> String {
    #[cfg(any(feature = "wgpu", feature = "cuda"))]
    if !matches!(
        spec,
        DeviceSpec::Flex | DeviceSpec::TchCpu | DeviceSpec::TchCuda(_)
    ) && let Some(id) = device.identity()
    {
        return id.name;
    }
    let _ = device;
    spec.name()
}

/// Every adapter wgpu sees on this machine, one line each: name, kind, graphics API, driver
/// and driver version. burn's `wgpu` device takes the high-performance one of the first API
/// (Vulkan before OpenGL) that has a GPU. Empty without the `wgpu` feature.
pub fn wgpu_adapters() -> Vec<String> {
    #[cfg(feature = "wgpu")]
    {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::all(),
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        futures_lite::future::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
            .iter()
            .map(|a| {
                let i = a.get_info();
                format!(
                    "{} ({:?}, {:?}, driver {} {})",
                    i.name, i.device_type, i.backend, i.driver, i.driver_info
                )
            })
            .collect()
    }
    #[cfg(not(feature = "wgpu"))]
    Vec::new()
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
                .to_string()
                .contains("flex, cuda:N")
        );
    }

    #[test]
    fn cpu_means_the_fastest_cpu_backend_compiled_in() {
        let want = if cfg!(feature = "tch") {
            DeviceSpec::TchCpu
        } else {
            DeviceSpec::Flex
        };
        assert_eq!(DeviceSpec::parse("cpu"), Ok(want));
    }

    #[test]
    fn run_devices_prefer_the_list_and_fall_back_to_the_device() {
        let mut run = RunConfig::default();
        assert_eq!(run_devices(&run), vec![DeviceSpec::Flex]);
        run.devices = vec![DeviceSpec::Cuda(0), DeviceSpec::Cuda(1)];
        assert_eq!(
            run_devices(&run),
            vec![DeviceSpec::Cuda(0), DeviceSpec::Cuda(1)]
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
        assert!(matches!(err, DeviceError::NotCompiled { .. }), "{err}");
        assert!(err.to_string().contains("--features cuda"), "{err}");
    }
}
