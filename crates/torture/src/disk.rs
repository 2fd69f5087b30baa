//! A full disk under the store: the SQLite file lives on a small tmpfs, and a filler file
//! takes every free byte for a while. Needs root (or CAP_SYS_ADMIN); where mounting is not
//! possible the run says so and goes on without full-disk episodes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A mounted tmpfs, unmounted on drop.
#[derive(Debug)]
pub struct Tmpfs {
    dir: PathBuf,
    mounted: bool,
}

const FILLER: &str = "filler.bin";

impl Tmpfs {
    /// Mounts a tmpfs of `size_mib` on a fresh directory; the error says why not.
    pub fn mount(size_mib: u64) -> Result<Self, String> {
        if !cfg!(target_os = "linux") {
            return Err("not Linux".into());
        }
        let dir = std::env::temp_dir().join(format!(
            "yibao-torture-store-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size_mib}m"), "tmpfs"])
            .arg(&dir)
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(o) if o.status.success() => Ok(Self { dir, mounted: true }),
            Ok(o) => {
                let _ = std::fs::remove_dir(&dir);
                Err(format!(
                    "mount -t tmpfs failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ))
            }
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                Err(format!("cannot run mount: {e}"))
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Fills every free byte with a filler file; returns how many bytes it took.
    pub fn fill(&self) -> std::io::Result<u64> {
        let mut f = std::fs::File::create(self.dir.join(FILLER))?;
        let mut written = 0u64;
        for chunk in [1 << 20, 4096, 512] {
            let buf = vec![0u8; chunk];
            // Bounded: a tmpfs this harness mounts is at most a few GiB.
            for _ in 0..(1u64 << 22) {
                match f.write(&buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => written += n as u64,
                }
            }
        }
        let _ = f.flush();
        Ok(written)
    }

    /// Deletes the filler file (a no-op when there is none).
    pub fn unfill(&self) {
        let _ = std::fs::remove_file(self.dir.join(FILLER));
    }

    /// Unmounts (lazily if something still holds a file open) and removes the directory.
    pub fn unmount(&mut self) -> Result<(), String> {
        if !self.mounted {
            return Ok(());
        }
        self.unfill();
        let run = |args: &[&str]| {
            Command::new("umount")
                .args(args)
                .arg(&self.dir)
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        if !run(&[]) && !run(&["-l"]) {
            return Err(format!("could not unmount {}", self.dir.display()));
        }
        self.mounted = false;
        let _ = std::fs::remove_dir(&self.dir);
        Ok(())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if let Err(e) = self.unmount() {
            eprintln!("yibao-torture: {e}");
        }
    }
}
