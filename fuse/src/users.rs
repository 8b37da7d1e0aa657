//! Local user facts the mount needs: the name to attach as for a uid
//! (`access=user` sends both the name and the number, like v9fs), and the
//! groups of a calling process (for `access`).

use std::ffi::CStr;

/// The login name of `uid` from the local user database, or the uid as a
/// decimal string when it has none.
pub fn user_name(uid: u32) -> String {
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: passwd is plain old data; all-zero is a valid value.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut out: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call and buf.len() is its
        // true length; on success `out` points at `pw`, whose strings point
        // into `buf`, which outlives their use below.
        let rc =
            unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut out) };
        if rc == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if rc != 0 || out.is_null() || pw.pw_name.is_null() {
            return uid.to_string();
        }
        // SAFETY: pw_name is a NUL-terminated string inside `buf`.
        let name = unsafe { CStr::from_ptr(pw.pw_name) };
        return name.to_string_lossy().into_owned();
    }
}

/// The supplementary groups of process `pid` (from `/proc/PID/status`),
/// empty if it cannot be read (the process may be gone already).
pub(crate) fn groups_of(pid: u32) -> Vec<u32> {
    let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
        return Vec::new();
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("Groups:"))
        .map(|g| {
            g.split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_has_a_name_and_strangers_a_number() {
        assert_eq!(user_name(0), "root");
        assert_eq!(user_name(3_999_999_999), "3999999999");
    }

    #[test]
    fn our_own_groups_can_be_read() {
        // Whatever they are, reading them must not fail for a live pid;
        // a dead one has none.
        let _ = groups_of(std::process::id());
        assert!(groups_of(u32::MAX).is_empty());
    }
}
