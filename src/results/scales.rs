//! The test scales Q of a protocol row: the `scales` column of `results.csv`, typed.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The test scales Q a protocol row was measured at, in the order evaluated; written as the
/// space-separated list `256` or `256 384 512`, empty in files written before the column
/// existed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Scales(Vec<usize>);

impl Scales {
    /// The scales, in the order evaluated.
    pub fn as_slice(&self) -> &[usize] {
        &self.0
    }

    /// Whether the row records no scales (written before the column existed).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads `256 384`: whitespace-separated positive integers, or nothing.
    pub fn parse(s: &str) -> Result<Scales, BadScales> {
        s.split_whitespace()
            .map(|q| match q.parse::<usize>() {
                Ok(q) if q > 0 => Ok(q),
                _ => Err(BadScales(s.to_string())),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Scales)
    }
}

impl From<&[usize]> for Scales {
    fn from(scales: &[usize]) -> Scales {
        Scales(scales.to_vec())
    }
}

impl std::fmt::Display for Scales {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let text: Vec<String> = self.0.iter().map(usize::to_string).collect();
        // `pad`, so that a width (`{:<8}`) aligns a table column as it did for the string.
        f.pad(&text.join(" "))
    }
}

/// A `scales` cell that is not a list of positive integers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("scales {0:?} are not a space-separated list of positive integers such as \"256 384\"")]
pub struct BadScales(String);

impl Serialize for Scales {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scales {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Scales, D::Error> {
        let s = String::deserialize(d)?;
        Scales::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scales_are_written_space_separated_and_read_back() {
        for text in ["", "256", "256 384 512"] {
            let scales = Scales::parse(text).unwrap();
            assert_eq!(scales.to_string(), text);
            assert_eq!(format!("{scales:<12}|"), format!("{text:<12}|"));
            let json = serde_json::to_string(&scales).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<Scales>(&json).unwrap(), scales);
        }
        assert_eq!(
            Scales::from(&[256, 384][..]).as_slice(),
            &[256, 384],
            "the evaluated order is kept"
        );
    }

    #[test]
    fn a_scales_cell_that_is_not_a_list_of_positive_integers_is_refused() {
        for bad in ["256,384", "0", "-1", "abc", "256 x"] {
            let err = Scales::parse(bad).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
