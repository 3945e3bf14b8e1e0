//! Burnpack files (a run's `model.bpk` and checkpoints) in and out of a [`Vgg`], with what
//! does not fit as a typed error.

use std::path::Path;

use burn::store::{ApplyResult, BurnpackStore, ModuleSnapshot};

use super::{Vgg, to_device_precision};

/// Why burnpack weights could not be loaded into (or copied between) networks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BurnpackError {
    /// The file's tensors do not match the network's.
    #[error(
        "{mismatched} mismatched, {missing} missing, {unexpected} unexpected tensors{}",
        first.as_ref().map(|f| format!(", first: {f}")).unwrap_or_default()
    )]
    Tensors {
        /// Tensors whose shape or type differs.
        mismatched: usize,
        /// The network's tensors the file lacks.
        missing: usize,
        /// The file's tensors the network lacks.
        unexpected: usize,
        /// The first mismatch, as burn describes it.
        first: Option<String>,
    },
    /// The store could not read or write the bytes.
    #[error("{0}")]
    Store(String),
}

impl BurnpackError {
    fn store(e: impl std::fmt::Display) -> Self {
        BurnpackError::Store(crate::util::one_line(&e.to_string()))
    }
}

/// `Ok` when every tensor was applied and none was left over.
fn applied_fully(r: ApplyResult) -> Result<(), BurnpackError> {
    if r.errors.is_empty() && r.missing.is_empty() && r.unused.is_empty() {
        return Ok(());
    }
    Err(BurnpackError::Tensors {
        mismatched: r.errors.len(),
        missing: r.missing.len(),
        unexpected: r.unused.len(),
        first: r
            .errors
            .first()
            .map(|e| crate::util::one_line(&e.to_string())),
    })
}

/// Loads burnpack weights into `model`, or says why they do not fit it.
pub fn load_burnpack(model: &mut Vgg, path: &Path) -> Result<(), BurnpackError> {
    let mut store = BurnpackStore::from_file(path);
    applied_fully(model.load_from(&mut store).map_err(BurnpackError::store)?)?;
    to_device_precision(model);
    Ok(())
}

/// Copies every weight and buffer of `from` into `to` (the same network, on any device), through
/// an in-memory burnpack: the way to give two backends bit-identical weights.
pub fn copy_weights(from: &Vgg, to: &mut Vgg) -> Result<(), BurnpackError> {
    let mut out = BurnpackStore::from_bytes(None);
    from.save_into(&mut out).map_err(BurnpackError::store)?;
    let bytes = out.get_bytes().map_err(BurnpackError::store)?;
    let mut store = BurnpackStore::from_bytes(Some(bytes));
    applied_fully(to.load_from(&mut store).map_err(BurnpackError::store)?)?;
    to_device_precision(to);
    Ok(())
}
