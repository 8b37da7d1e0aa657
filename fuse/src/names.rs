//! Which names may pass between the kernel and the server.
//!
//! Names are bytes on both sides (9P2000.L and Linux alike), so any bytes
//! pass, UTF-8 or not, except the few below.
//!
//! A directory entry name is a path component: a server that sends one with
//! a `/` or a NUL in it, an empty one, or a `.` / `..` other than the
//! directory's own would let the kernel build paths that point somewhere
//! else. Such entries are dropped (and logged by the caller); the listing
//! supplies its own `.` and `..`.
//!
//! The same rule guards names going the other way (the kernel never sends
//! such a name for a create, remove or rename, but a server must never be
//! asked to make one): they are refused with `EINVAL`. Symlink targets and
//! xattr names are not path components, so only a NUL (which would cut
//! them short in a C server) is refused there.

use crate::errno::Fail;

/// Why a name was refused, for the log.
pub(crate) fn reject_reason(name: &[u8]) -> Option<&'static str> {
    match name {
        [] => Some("empty name"),
        b"." | b".." => Some("dot entry where none belongs"),
        _ if name.contains(&b'/') => Some("name contains '/'"),
        _ if name.contains(&0) => Some("name contains NUL"),
        _ => None,
    }
}

/// A name from the kernel for an entry to make, remove or move.
pub(crate) fn component(name: &[u8]) -> Result<&[u8], Fail> {
    match reject_reason(name) {
        None => Ok(name),
        Some(_) => Err(Fail(libc::EINVAL)),
    }
}

/// A symlink target or xattr name from the kernel.
pub(crate) fn no_nul(b: &[u8]) -> Result<&[u8], Fail> {
    match b.contains(&0) {
        false => Ok(b),
        true => Err(Fail(libc::EINVAL)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_valid(name: &[u8]) -> bool {
        reject_reason(name).is_none()
    }

    #[test]
    fn only_plain_components_pass() {
        assert!(is_valid(b"a"));
        assert!(is_valid(b"...")); // three dots is an ordinary name
        assert!(is_valid(b".hidden"));
        assert!(is_valid("é".as_bytes()));
        assert!(!is_valid(b""));
        assert!(!is_valid(b"."));
        assert!(!is_valid(b".."));
        assert!(!is_valid(b"a/b"));
        assert!(!is_valid(b"/"));
        assert!(!is_valid(b"a\0b"));
    }

    #[test]
    fn kernel_names_need_not_be_utf8() {
        assert_eq!(component(b"caf\xe9"), Ok(&b"caf\xe9"[..]));
        assert_eq!(component(b"a/b"), Err(Fail(libc::EINVAL)));
        assert_eq!(component(b"a\0"), Err(Fail(libc::EINVAL)));
        assert_eq!(no_nul(b"../t\xff/x"), Ok(&b"../t\xff/x"[..]));
        assert_eq!(no_nul(b"t\0"), Err(Fail(libc::EINVAL)));
    }
}
