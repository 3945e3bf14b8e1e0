//! Reading the file and applying `--set key=value` overrides, with errors that name the line
//! and the dotted key.

use std::path::Path;

use super::Experiment;
use crate::error::ConfigError;
use crate::util::one_line;

/// Deserialises the experiment, naming the dotted key of a value of the wrong type.
pub(super) fn parse_experiment(path: &Path, text: &str) -> Result<Experiment, ConfigError> {
    let de = toml::Deserializer::parse(text).map_err(|e| parse_error(path, text, &e))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let key = e.path().to_string();
        let mut err = parse_error(path, text, e.inner());
        if let ConfigError::Parse { message, .. } = &mut err
            && key != "."
            && !key.is_empty()
        {
            *message = format!("{key}: {message}");
        }
        err
    })
}

pub(super) fn parse_error(path: &Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let location = e
        .span()
        .map(|span| {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!(" line {line}")
        })
        .unwrap_or_default();
    ConfigError::Parse {
        path: path.to_path_buf(),
        location,
        message: one_line(e.message()),
    }
}

/// Applies `a.b.c=value` to `table`. The value is read as TOML (`2`, `0.1`, `true`,
/// `[256, 512]`, `"x"`); anything that is not valid TOML is taken as a string.
pub(super) fn apply_override(table: &mut toml::Table, assignment: &str) -> Result<(), ConfigError> {
    let err = |message: &str| ConfigError::Override {
        assignment: assignment.into(),
        message: message.into(),
    };
    let (key, raw) = assignment
        .split_once('=')
        .ok_or_else(|| err("expected key=value, e.g. train.epochs=2"))?;
    let key = key.trim();
    let raw = raw.trim();
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(err("expected a dotted key such as train.epochs"));
    }
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let parts: Vec<&str> = key.split('.').collect();
    let mut node = table;
    for part in &parts[..parts.len() - 1] {
        let entry = node
            .entry(part.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        node = entry
            .as_table_mut()
            .ok_or_else(|| err(&format!("`{part}` is not a table")))?;
    }
    node.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}
