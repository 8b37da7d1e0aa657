//! Which names from the server may reach the kernel.
//!
//! A directory entry name is a path component: a server that sends one with
//! a `/` or a NUL in it, an empty one, or a `.` / `..` other than the
//! directory's own would let the kernel build paths that point somewhere
//! else. Such entries are dropped (and logged by the caller); the listing
//! supplies its own `.` and `..`.

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
}
