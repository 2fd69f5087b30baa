//! Config values that are one of a few names (`platform.profile`, `store.kind`,
//! `store.synchronous`): read with the file's case rule, written back in the documented
//! spelling, and a wrong value answered with the key and every valid name. The error is
//! raised while the value is being read, so the TOML parser puts it at the value's line,
//! with a caret under it.
//!
//! Used as `#[serde(with = "names")]` on the fields of the file-shaped structs.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};

/// An enum whose values are spelled as names in the config file.
pub(crate) trait Named: Sized + Copy + PartialEq + 'static {
    /// The dotted key, for messages (`store.kind`).
    const KEY: &'static str;
    /// Every value with its spelling in the file; every variant appears once.
    const NAMES: &'static [(&'static str, Self)];
    /// Whether `normal` reads as `NORMAL` (SQLite's pragma values are case-insensitive).
    const IGNORE_CASE: bool = false;

    /// The spelling in the file.
    fn as_str(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, v)| *v == self)
            .map_or("", |(name, _)| name)
    }

    /// The value `text` names, or the message for the operator.
    fn from_name(text: &str) -> Result<Self, String> {
        let same = |name: &str| {
            if Self::IGNORE_CASE {
                name.eq_ignore_ascii_case(text)
            } else {
                name == text
            }
        };
        Self::NAMES
            .iter()
            .find(|(name, _)| same(name))
            .map(|(_, v)| *v)
            .ok_or_else(|| {
                let valid: Vec<String> = Self::NAMES
                    .iter()
                    .map(|(n, _)| format!("\"{n}\""))
                    .collect();
                format!(
                    "{key} 不能是 {text:?}，可选 / {key} cannot be {text:?}; valid: {}",
                    valid.join(", "),
                    key = Self::KEY,
                )
            })
    }
}

pub(crate) fn serialize<T: Named, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(value.as_str())
}

pub(crate) fn deserialize<'de, T: Named, D: Deserializer<'de>>(d: D) -> Result<T, D::Error> {
    let text = String::deserialize(d)?;
    T::from_name(&text).map_err(D::Error::custom)
}
