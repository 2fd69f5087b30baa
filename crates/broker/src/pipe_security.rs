//! Who may open the broker's pipe on Windows. The pipe is a door into the hospital's
//! insurance account, so the broker sets an explicit security descriptor instead of the
//! default: network logons are denied outright; SYSTEM, Administrators and the broker's own
//! account have full access; the accounts named in `broker.pipe_allow` (the SQL Server
//! service account, the xp_cmdshell proxy account, a HIS application account) may read and
//! write. `broker.pipe_sddl` replaces the whole descriptor for sites with their own policy.
//!
//! Building the SDDL string is plain code (tested everywhere); resolving account names to
//! SIDs and applying the descriptor are Windows-only and live in [`windows`].

/// Checks an entry of `pipe_allow`: a SID (`S-1-…`), a two-letter SDDL alias (`NS`, `LS`,
/// `AU`, …) or an account name (`NT SERVICE\MSSQLSERVER`, `HOSP\svc-yibao`). Characters that
/// would change the SDDL's structure are refused, so a config value cannot widen access.
pub fn check_entry(entry: &str) -> Result<(), String> {
    let e = entry.trim();
    if e.is_empty() {
        return Err("empty entry".into());
    }
    if e.contains(['(', ')', ';', ':']) || e.chars().any(char::is_control) {
        return Err(format!(
            "{e:?} 含有不允许的字符 ( ) ; : / contains a character not allowed in an account: ( ) ; :"
        ));
    }
    Ok(())
}

/// True for values usable in an ACE as they are.
pub fn is_sid_or_alias(entry: &str) -> bool {
    let e = entry.trim();
    (e.starts_with("S-1-") && e[4..].chars().all(|c| c.is_ascii_digit() || c == '-'))
        || (e.len() == 2 && e.chars().all(|c| c.is_ascii_uppercase()))
}

/// The default descriptor for the given SIDs (already resolved): a protected DACL that
/// denies network logons first, gives SYSTEM, Administrators and the owner (the broker's
/// account) full access and the listed SIDs read/write.
pub fn default_sddl(allowed_sids: &[String]) -> String {
    let mut s = String::from("D:P(D;;GA;;;NU)(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;OW)");
    for sid in allowed_sids {
        s.push_str("(A;;GRGW;;;");
        s.push_str(sid.trim());
        s.push(')');
    }
    s
}

/// The SDDL the broker applies: `pipe_sddl` as given, else [`default_sddl`] with the
/// `pipe_allow` entries resolved by `resolve` (account name → SID string).
pub fn sddl_for(
    pipe_sddl: Option<&str>,
    pipe_allow: &[String],
    resolve: impl Fn(&str) -> Result<String, String>,
) -> Result<String, String> {
    if let Some(s) = pipe_sddl {
        return Ok(s.to_string());
    }
    let mut sids = Vec::with_capacity(pipe_allow.len());
    for entry in pipe_allow {
        check_entry(entry)?;
        if is_sid_or_alias(entry) {
            sids.push(entry.trim().to_string());
        } else {
            sids.push(resolve(entry.trim())?);
        }
    }
    Ok(default_sddl(&sids))
}

#[cfg(windows)]
pub mod windows {
    //! Account lookup and the descriptor object (Win32).

    use std::io;

    use interprocess::os::windows::security_descriptor::SecurityDescriptor;
    use widestring::{U16CString, U16String};
    use windows_sys::Win32::Foundation::LocalFree;
    use windows_sys::Win32::Security::Authorization::ConvertSidToStringSidW;
    use windows_sys::Win32::Security::{LookupAccountNameW, SID_NAME_USE};

    /// `DOMAIN\name` → `S-1-…`.
    pub fn resolve_account(name: &str) -> Result<String, String> {
        let wide = U16CString::from_str(name).map_err(|e| e.to_string())?;
        let mut sid = vec![0u8; 256];
        let mut sid_len = sid.len() as u32;
        let mut domain = vec![0u16; 256];
        let mut domain_len = domain.len() as u32;
        let mut kind: SID_NAME_USE = 0;
        // SAFETY: every pointer refers to a live buffer whose length is passed alongside.
        let ok = unsafe {
            LookupAccountNameW(
                std::ptr::null(),
                wide.as_ptr(),
                sid.as_mut_ptr().cast(),
                &mut sid_len,
                domain.as_mut_ptr(),
                &mut domain_len,
                &mut kind,
            )
        };
        if ok == 0 {
            return Err(format!(
                "找不到账户 {name} / account {name} not found: {}",
                io::Error::last_os_error()
            ));
        }
        let mut text: *mut u16 = std::ptr::null_mut();
        // SAFETY: `sid` holds the SID LookupAccountNameW wrote; `text` receives a LocalAlloc'd string.
        let ok = unsafe { ConvertSidToStringSidW(sid.as_mut_ptr().cast(), &mut text) };
        if ok == 0 || text.is_null() {
            return Err(format!("SID of {name}: {}", io::Error::last_os_error()));
        }
        // SAFETY: `text` is a NUL-terminated wide string allocated by the call above.
        let s = unsafe {
            let mut n = 0;
            while *text.add(n) != 0 {
                n += 1;
            }
            let s = U16String::from_ptr(text, n).to_string_lossy();
            LocalFree(text.cast());
            s
        };
        Ok(s)
    }

    /// The descriptor object for an SDDL string.
    pub fn descriptor(sddl: &str) -> io::Result<SecurityDescriptor> {
        let wide = U16CString::from_str(sddl)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        SecurityDescriptor::deserialize(&wide).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("管道安全描述符无效 / invalid pipe security descriptor {sddl:?}: {e}"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_denies_network_and_admits_only_the_named_accounts() {
        let resolve = |name: &str| match name {
            "NT SERVICE\\MSSQLSERVER" => Ok("S-1-5-80-3880718306".to_string()),
            other => Err(format!("unknown {other}")),
        };
        let sddl = sddl_for(
            None,
            &[
                "NT SERVICE\\MSSQLSERVER".into(),
                "NS".into(),
                "S-1-5-21-1-2-3-1001".into(),
            ],
            resolve,
        )
        .unwrap();
        assert_eq!(
            sddl,
            "D:P(D;;GA;;;NU)(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;OW)\
             (A;;GRGW;;;S-1-5-80-3880718306)(A;;GRGW;;;NS)(A;;GRGW;;;S-1-5-21-1-2-3-1001)"
        );
        // The deny ACE comes first, so it wins over any allow.
        assert!(sddl.starts_with("D:P(D;;GA;;;NU)"));
        assert!(sddl_for(None, &["HOSP\\nobody".into()], resolve).is_err());
        assert_eq!(
            sddl_for(Some("D:(A;;GA;;;WD)"), &[], resolve).unwrap(),
            "D:(A;;GA;;;WD)"
        );
    }

    #[test]
    fn entries_cannot_inject_aces() {
        for bad in ["x)(A;;GA;;;WD", "S-1-1-0;", "a:b", "", "bad\nname"] {
            assert!(check_entry(bad).is_err(), "{bad:?}");
        }
        assert!(check_entry("HOSP\\svc-yibao").is_ok());
        assert!(is_sid_or_alias("S-1-5-18") && is_sid_or_alias("NS"));
        assert!(!is_sid_or_alias("S-1-5-x") && !is_sid_or_alias("Ns"));
    }
}
