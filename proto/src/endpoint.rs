//! Where the broker listens. One configured name means the same endpoint to the broker and
//! to every client, on every OS, so the rule lives in exactly one place.

/// The pipe name used when none is configured.
pub const DEFAULT_PIPE_NAME: &str = "yibao";

/// Turns a configured pipe name into the path of the local socket.
///
/// * Windows: a bare name `yibao` becomes the named pipe `\\.\pipe\yibao`; a full
///   `\\.\pipe\…` path is kept as given.
/// * Unix: a name containing `/` is a socket file path and is kept; a bare name becomes
///   `/tmp/<name>.sock` (a file, so the broker can restrict it with mode 0660).
pub fn resolve_endpoint(name: &str) -> String {
    let name = name.trim();
    let name = if name.is_empty() {
        DEFAULT_PIPE_NAME
    } else {
        name
    };
    if cfg!(windows) {
        if name.starts_with(r"\\") {
            name.to_string()
        } else {
            format!(r"\\.\pipe\{name}")
        }
    } else if name.contains('/') {
        name.to_string()
    } else {
        format!("/tmp/{name}.sock")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_names_and_paths() {
        if cfg!(windows) {
            assert_eq!(resolve_endpoint("yibao"), r"\\.\pipe\yibao");
            assert_eq!(resolve_endpoint(r"\\.\pipe\x"), r"\\.\pipe\x");
        } else {
            assert_eq!(resolve_endpoint("yibao"), "/tmp/yibao.sock");
            assert_eq!(resolve_endpoint(""), "/tmp/yibao.sock");
            assert_eq!(resolve_endpoint("/run/yibao/b.sock"), "/run/yibao/b.sock");
        }
    }
}
