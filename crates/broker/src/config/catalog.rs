//! `[catalog]`: the site's catalog file and what broken catalog rules do, plus building the
//! one catalog the broker uses (shipped file → site pack's `catalog.toml` → site file →
//! `[interfaces.<code>]` keys).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use yibao_core::catalog::Overlay;
use yibao_core::{Catalog, UncertainPolicy};

use super::{Config, ConfigError};

/// What a request that breaks its catalog rules does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValidationMode {
    /// ERROR without sending, every bad field named (default).
    #[default]
    Enforce,
    /// Log a warning and send anyway (the platform decides).
    Warn,
    /// Do not check.
    Off,
}

impl ValidationMode {
    /// The spelling in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            ValidationMode::Enforce => "enforce",
            ValidationMode::Warn => "warn",
            ValidationMode::Off => "off",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CatalogSection {
    /// A site catalog laid over the shipped one; relative to the config file.
    pub file: Option<PathBuf>,
    pub validation: ValidationMode,
}

impl Config {
    /// The catalog this configuration describes. Errors name the file or entry at fault.
    pub fn catalog(&self) -> Result<Catalog, ConfigError> {
        let catalog = Catalog::load(&self.catalog_overlays())
            .map_err(|e| ConfigError::Invalid {
                key: "catalog",
                message: e.to_string(),
            })?
            .with_overrides(&self.interfaces);
        for code in self.interfaces.keys() {
            if !Catalog::is_well_formed(code) {
                return Err(ConfigError::Invalid {
                    key: "interfaces",
                    message: "键须为交易编号，如 1101 / keys must be interface codes like 1101"
                        .into(),
                });
            }
            let info = catalog.get(code);
            if info.on_uncertain == UncertainPolicy::Reverse && !info.reversible {
                return Err(ConfigError::Invalid {
                    key: "interfaces.on_uncertain",
                    message: "\"reverse\" needs a reversible interface (set reversible = true if 2601 applies)".into(),
                });
            }
        }
        Ok(catalog)
    }

    /// The catalog files laid over the shipped one, in order: the site pack's `catalog.toml`
    /// (named `site:<pack>` in the catalog's version), then the hospital's `[catalog] file`
    /// (`site`); the config's `[interfaces.<code>]` keys come after both.
    pub fn catalog_overlays(&self) -> Vec<Overlay> {
        let pack = self.site.as_ref().and_then(|site| {
            let file = site.catalog()?;
            Some(Overlay::new(format!("site:{}", site.name()), file))
        });
        let own = self.catalog.file.iter().map(|f| Overlay::new("site", f));
        pack.into_iter().chain(own).collect()
    }
}
