//! `[platform.cainfo]` in the broker's config (the table itself is
//! [`yibao_core::cainfo::CainfoConfig`], so the simulator and tests share its definition).
//! Checked with the file — a key for the modes that encrypt, interface codes that can exist —
//! and built where the signing profile is, once per start (`run`, `check-config`): that is
//! when its key is resolved and parsed, like every other secret (`yibao_core::secret`).

use yibao_core::cainfo::{Cainfo, CainfoError};

use super::{Config, ConfigError};

/// The operator's error: the key (`platform.cainfo.key` or `.interfaces`) and what it must
/// be. Never the key's value.
fn invalid(e: CainfoError) -> ConfigError {
    ConfigError::Invalid {
        key: e.config_key(),
        message: e.to_string(),
    }
}

/// What can be checked when the file is read (no variable or file is read).
pub(super) fn check(config: &Config) -> Result<(), ConfigError> {
    match &config.platform.cainfo {
        Some(c) => c.check().map_err(invalid),
        None => Ok(()),
    }
}

impl Config {
    /// `[platform.cainfo]` ready to use, its key resolved and parsed; `None` without the
    /// table (every envelope then carries `institution.cainfo`).
    pub fn cainfo(&self) -> Result<Option<Cainfo>, ConfigError> {
        self.platform
            .cainfo
            .as_ref()
            .map(Cainfo::from_config)
            .transpose()
            .map_err(invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../../../../examples/yibao.toml");

    /// The example with `table` as its `[platform.cainfo]`, placed right after `[platform]`'s
    /// keys.
    fn with(table: &str) -> String {
        let anchor = "pool_max_idle = 32\n";
        assert!(EXAMPLE.contains(anchor));
        EXAMPLE.replace(anchor, &format!("{anchor}\n[platform.cainfo]\n{table}\n"))
    }

    #[test]
    fn a_good_table_builds_and_round_trips() {
        let cfg = Config::parse(&with(
            "mode = \"sm4\"\nkey = \"0123456789abcdeffedcba9876543210\"",
        ))
        .unwrap();
        let c = cfg.cainfo().unwrap().unwrap();
        assert!(c.applies("2207") && c.applies("2304") && c.applies("2102"));
        assert!(!c.applies("1101"));
        let written = toml::to_string(&cfg).unwrap();
        assert_eq!(Config::parse(&written).unwrap(), cfg);
        // Printed, the config never shows the key written inline.
        assert!(!format!("{cfg:?}").contains("0123456789abcdef"));
        assert!(Config::parse(EXAMPLE).unwrap().cainfo().unwrap().is_none());
    }

    #[test]
    fn a_bad_key_names_the_setting_and_what_it_must_be_never_the_key() {
        let err = Config::parse(&with("mode = \"sm2\""))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("platform.cainfo.key") && err.contains("needs a key"),
            "{err}"
        );
        let key = "0123456789abcdeffedcba98765432";
        let cfg = Config::parse(&with(&format!("mode = \"sm4\"\nkey = \"{key}\""))).unwrap();
        let err = cfg.cainfo().unwrap_err().to_string();
        assert!(
            err.contains("platform.cainfo.key") && err.contains("32 hex digits"),
            "{err}"
        );
        assert!(!err.contains(key), "{err}");
        let cfg = Config::parse(&with("mode = \"sm2\"\nkey = \"0102\"")).unwrap();
        let err = cfg.cainfo().unwrap_err().to_string();
        assert!(
            err.contains("platform.cainfo.key") && err.contains("SM2"),
            "{err}"
        );
        let err = Config::parse(&with("mode = \"as_given\"\ninterfaces = [\"22-07\"]"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("platform.cainfo.interfaces"), "{err}");
        // A typo is the TOML parser's error, with its line.
        let err = Config::parse(&with("mode = \"sm4\"\nkye = \"x\""))
            .unwrap_err()
            .to_string();
        assert!(err.contains("kye"), "{err}");
    }
}
