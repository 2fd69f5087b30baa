//! `yibao-broker keys generate|check`: the key chores an operator does once per institution,
//! without OpenSSL on the Windows server.
//!
//! `generate` writes a PKCS#8 private key and an SPKI public key in PEM (what the platform
//! asks for when registering the institution; `openssl` reads both). `check` loads the keys
//! named in `[platform.sm]`, signs and verifies with the configured pair and prints the
//! public keys' fingerprints so they can be compared with what the platform has on file.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use yibao_core::sm::crypto::{sm3, Sm2Signer};
use yibao_core::sm::keys::{generate_pem, load_private_key, load_public_key};
use yibao_core::sm::{SmCodec, TextEncoding};

use crate::Config;

/// Writes `<name>.key.pem` and `<name>.pub.pem` into `dir`; never overwrites a key.
pub fn generate(dir: &Path, name: &str) -> anyhow::Result<(PathBuf, PathBuf)> {
    if name.is_empty() || name.contains(['/', '\\', '.']) {
        bail!("密钥名只能是简单名称 / the key name must be a plain name: {name:?}");
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let private_path = dir.join(format!("{name}.key.pem"));
    let public_path = dir.join(format!("{name}.pub.pem"));
    for p in [&private_path, &public_path] {
        if p.exists() {
            bail!(
                "{} 已存在，不会覆盖 / already exists; not overwriting a key",
                p.display()
            );
        }
    }
    let (private, public) = generate_pem()?;
    write_private(&private_path, private.as_bytes())?;
    std::fs::write(&public_path, public)
        .with_context(|| format!("cannot write {}", public_path.display()))?;
    Ok((private_path, public_path))
}

/// Creates the private key file readable by its owner only (on Unix; on Windows the
/// directory's ACL decides, see the README).
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// What `keys check` found, printed for the operator.
#[derive(Debug)]
pub struct KeyReport {
    pub institution_public_key_hex: String,
    pub institution_public_key_base64: String,
    pub institution_fingerprint: String,
    pub platform_fingerprint: String,
}

/// SM3 fingerprint of a public key: first 16 hex digits of SM3(04‖x‖y), grouped for reading.
pub fn fingerprint(point: &[u8]) -> String {
    let h = hex::encode_upper(&sm3(point)[..8]);
    h.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// Loads `[platform.sm]`, signs and verifies with the pair and seals a sample message.
pub fn check(cfg: &Config) -> anyhow::Result<KeyReport> {
    let Some(sm) = cfg.platform.sm() else {
        bail!("配置中没有 [platform.sm] 段 / the config has no [platform.sm] table");
    };
    let secret = load_private_key(&sm.private_key).context("platform.sm.private_key")?;
    let platform =
        load_public_key(&sm.platform_public_key).context("platform.sm.platform_public_key")?;
    let signer = Sm2Signer::new(&secret, &sm.user_id)?;
    let probe = b"yibao keys check";
    let sig = signer.sign(probe, sm.signature_layout)?;
    signer
        .verifier()
        .verify(probe, &sig, sm.signature_layout)
        .context("the private key cannot verify its own signature")?;
    let codec = SmCodec::from_config(sm).context("platform.sm")?;
    codec.seal(
        &serde_json::json!({"infno": yibao_core::codes::SIGN_IN}),
        serde_json::Map::new(),
    )?;
    let own = codec.own_public_key();
    Ok(KeyReport {
        institution_public_key_hex: hex::encode_upper(&own),
        institution_public_key_base64: TextEncoding::Base64.encode(&own),
        institution_fingerprint: fingerprint(&own),
        platform_fingerprint: fingerprint(&platform.to_sec1_bytes()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_writes_a_usable_pair_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let (private, public) = generate(dir.path(), "inst").unwrap();
        let sk = load_private_key(&format!("file:{}", private.display()).into()).unwrap();
        let pk = load_public_key(&format!("file:{}", public.display())).unwrap();
        assert_eq!(sk.public_key(), pk);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&private).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let e = generate(dir.path(), "inst").unwrap_err().to_string();
        assert!(e.contains("not overwriting"), "{e}");
        assert!(generate(dir.path(), "../x").is_err());
        assert_eq!(fingerprint(&[4u8; 65]).len(), 19);
    }
}
