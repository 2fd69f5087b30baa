//! Secrets and keys named in configuration: `env:NAME` reads an environment variable,
//! `file:PATH` a file, anything else is the value itself. One rule for the tif token, the
//! appSecret and the SM2 keys, so operators learn it once. Errors name the source (the
//! variable or the path) and never the secret.

/// A secret as text: the variable, the file's first line, or the value; trimmed, non-empty.
pub fn resolve_text(spec: &str) -> Result<String, String> {
    let value = if spec.starts_with("file:") {
        let bytes = resolve_bytes(spec)?;
        String::from_utf8_lossy(&bytes)
            .lines()
            .next()
            .unwrap_or_default()
            .to_string()
    } else {
        String::from_utf8_lossy(&resolve_bytes(spec)?).into_owned()
    };
    let value = value.trim().to_string();
    if value.is_empty() {
        return Err("the secret is empty / 密钥为空".into());
    }
    Ok(value)
}

/// A secret as bytes: the variable, the whole file (PEM or DER keys), or the value.
pub fn resolve_bytes(spec: &str) -> Result<Vec<u8>, String> {
    let bytes = if let Some(name) = spec.strip_prefix("env:") {
        std::env::var(name)
            .map_err(|_| {
                format!("环境变量 {name} 未设置 / environment variable {name} is not set")
            })?
            .into_bytes()
    } else if let Some(path) = spec.strip_prefix("file:") {
        std::fs::read(path)
            .map_err(|e| format!("无法读取文件 {path} / cannot read file {path}: {e}"))?
    } else {
        spec.as_bytes().to_vec()
    };
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err("the secret is empty / 密钥为空".into());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_come_from_env_or_file() {
        std::env::set_var("YIBAO_TEST_SECRET_X", " s3cret \n");
        assert_eq!(resolve_text("env:YIBAO_TEST_SECRET_X").unwrap(), "s3cret");
        let err = resolve_text("env:YIBAO_TEST_SECRET_MISSING").unwrap_err();
        assert!(err.contains("YIBAO_TEST_SECRET_MISSING"));
        let dir = std::env::temp_dir().join(format!("yibao-secret-{}", std::process::id()));
        std::fs::write(&dir, "tok\nsecond line\n").unwrap();
        let spec = format!("file:{}", dir.display());
        assert_eq!(resolve_text(&spec).unwrap(), "tok");
        assert_eq!(resolve_bytes(&spec).unwrap(), b"tok\nsecond line\n");
        std::fs::remove_file(&dir).unwrap();
        assert!(resolve_text("").is_err());
        assert!(resolve_text("  ").is_err());
        assert_eq!(resolve_text("literal").unwrap(), "literal");
    }
}
