//! The one errno map: every 9P failure reaches the kernel through
//! [`errno_of`], so that the same error always becomes the same errno and
//! the choices are written down in one place.
//!
//! - A server errno (Rlerror, or the 9P2000.u Rerror errno) is passed on.
//! - A 9P2000 error string (no errno) is looked up in a table of the
//!   strings Plan 9 and the Linux v9fs server family send; a string that is
//!   not there is logged verbatim beside the `EIO` chosen for it.
//! - Our own cancellation (a FUSE interrupt turned into a Tflush) is
//!   `EINTR`; a lost connection, an undecodable or out-of-protocol reply and
//!   a failed negotiation are `EIO`; running out of tags is `EAGAIN` (try
//!   again when requests finish), out of fids `ENFILE`, and a request 9P
//!   cannot carry `EINVAL`.
//!
//! Handlers return `Fail`, which `?` builds from a client error, and the
//! FUSE boundary turns it into a `kernel::Errno`.

use ninep_client::{Error, RemoteError};
use tracing::{debug, warn};

/// An errno for the kernel (positive, as in `<errno.h>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fail(pub i32);

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        let errno = errno_of(&e);
        debug!(errno, "9P request failed: {e}");
        Fail(errno)
    }
}

impl From<Fail> for crate::kernel::Errno {
    fn from(f: Fail) -> crate::kernel::Errno {
        f.0.into()
    }
}

/// The errno for a client error (see the module doc).
pub fn errno_of(e: &Error) -> i32 {
    match e {
        Error::Remote(r) => remote_errno(r),
        Error::Flushed | Error::FlushUnconfirmed => libc::EINTR,
        Error::Disconnected(_) | Error::Negotiation(_) | Error::NotNinep(_) => libc::EIO,
        Error::Decode(_) | Error::Protocol(_) => {
            warn!("answering EIO for a bad reply: {e}");
            libc::EIO
        }
        Error::TagsExhausted(_) => libc::EAGAIN,
        Error::FidsExhausted => libc::ENFILE,
        Error::Invalid(_) => libc::EINVAL,
    }
}

/// The errno of an error reply: its own, or the one its string names.
fn remote_errno(r: &RemoteError) -> i32 {
    match (r.errno, &r.ename) {
        // 0 or an out-of-range errno is no errno at all.
        (Some(n), _) if (1..4096).contains(&n) => n as i32,
        (_, Some(s)) => match errno_of_string(s) {
            Some(n) => n,
            None => {
                warn!(ename = %s, "unknown 9P2000 error string; answering EIO");
                libc::EIO
            }
        },
        (Some(n), None) => {
            warn!(errno = n, "server sent an impossible errno; answering EIO");
            libc::EIO
        }
        (None, None) => libc::EIO,
    }
}

/// Error strings of Plan 9's `lib9p`/`fossil`/`kfs` and of the Linux-side
/// servers (their strerror texts), with the errno v9fs gives each.
const STRINGS: &[(&str, i32)] = &[
    // strerror(3) texts, sent by u9fs, diod in 9P2000 mode and others.
    ("operation not permitted", libc::EPERM),
    ("no such file or directory", libc::ENOENT),
    ("no such process", libc::ESRCH),
    ("interrupted system call", libc::EINTR),
    ("input/output error", libc::EIO),
    ("no such device or address", libc::ENXIO),
    ("argument list too long", libc::E2BIG),
    ("bad file descriptor", libc::EBADF),
    ("resource temporarily unavailable", libc::EAGAIN),
    ("cannot allocate memory", libc::ENOMEM),
    ("permission denied", libc::EACCES),
    ("bad address", libc::EFAULT),
    ("device or resource busy", libc::EBUSY),
    ("file exists", libc::EEXIST),
    ("invalid cross-device link", libc::EXDEV),
    ("no such device", libc::ENODEV),
    ("not a directory", libc::ENOTDIR),
    ("is a directory", libc::EISDIR),
    ("invalid argument", libc::EINVAL),
    ("too many open files in system", libc::ENFILE),
    ("too many open files", libc::EMFILE),
    ("text file busy", libc::ETXTBSY),
    ("file too large", libc::EFBIG),
    ("no space left on device", libc::ENOSPC),
    ("illegal seek", libc::ESPIPE),
    ("read-only file system", libc::EROFS),
    ("too many links", libc::EMLINK),
    ("broken pipe", libc::EPIPE),
    ("numerical result out of range", libc::ERANGE),
    ("resource deadlock avoided", libc::EDEADLK),
    ("file name too long", libc::ENAMETOOLONG),
    ("no locks available", libc::ENOLCK),
    ("function not implemented", libc::ENOSYS),
    ("directory not empty", libc::ENOTEMPTY),
    ("too many levels of symbolic links", libc::ELOOP),
    ("no data available", libc::ENODATA),
    ("value too large for defined data type", libc::EOVERFLOW),
    ("operation not supported", libc::EOPNOTSUPP),
    ("connection refused", libc::ECONNREFUSED),
    ("stale file handle", libc::ESTALE),
    ("stale nfs file handle", libc::ESTALE),
    ("disk quota exceeded", libc::EDQUOT),
    // Plan 9's own texts (lib9p, fossil, kfs, the kernel's devtab).
    ("file does not exist", libc::ENOENT),
    ("file not found", libc::ENOENT),
    ("directory entry not found", libc::ENOENT),
    ("file already exists", libc::EEXIST),
    ("not owner", libc::EPERM),
    ("wstat prohibited", libc::EPERM),
    ("create prohibited", libc::EACCES),
    ("remove prohibited", libc::EACCES),
    ("file is open", libc::EBUSY),
    ("file in use", libc::EBUSY),
    ("exclusive use file already open", libc::EBUSY),
    ("fid unknown or out of range", libc::EBADF),
    ("fid already in use", libc::EBADF),
    ("unknown fid", libc::EBADF),
    ("bad use of fid", libc::EBADF),
    ("fid not open for read", libc::EBADF),
    ("fid not open for write", libc::EBADF),
    ("open for read only", libc::EBADF),
    ("walk in non-directory", libc::ENOTDIR),
    ("bad offset", libc::EINVAL),
    ("bad offset in directory read", libc::EINVAL),
    ("illegal mode", libc::EINVAL),
    ("illegal name", libc::EINVAL),
    ("bad character in file name", libc::EINVAL),
    ("unknown user", libc::EINVAL),
    ("unknown group", libc::EINVAL),
    ("name too long", libc::ENAMETOOLONG),
    ("read only file system", libc::EROFS),
    ("file system read only", libc::EROFS),
    ("file system full", libc::ENOSPC),
    ("i/o error", libc::EIO),
    ("i/o on hungup channel", libc::EIO),
    ("interrupted", libc::EINTR),
    ("not implemented", libc::ENOSYS),
    ("authentication failed", libc::ECONNREFUSED),
    ("authentication required", libc::ECONNREFUSED),
    ("no authentication required", libc::EINVAL),
];

/// The errno a 9P2000 error string names: an exact match (ignoring case),
/// else the first table text the string contains (servers often add the
/// file name: "'x' file does not exist").
pub fn errno_of_string(s: &str) -> Option<i32> {
    let lower = s.trim().to_ascii_lowercase();
    let exact = STRINGS.iter().find(|(t, _)| *t == lower);
    exact
        .or_else(|| {
            // Longest text first, so "too many open files in system" wins
            // over "too many open files".
            let mut hits: Vec<_> = STRINGS.iter().filter(|(t, _)| lower.contains(t)).collect();
            hits.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
            hits.into_iter().next()
        })
        .map(|&(_, e)| e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(errno: Option<u32>, ename: Option<&str>) -> Error {
        Error::Remote(RemoteError {
            errno,
            ename: ename.map(Into::into),
        })
    }

    #[test]
    fn server_errnos_pass_through() {
        assert_eq!(errno_of(&remote(Some(2), None)), libc::ENOENT);
        assert_eq!(errno_of(&remote(Some(95), Some("x"))), libc::EOPNOTSUPP);
        assert_eq!(errno_of(&remote(Some(0), None)), libc::EIO);
        assert_eq!(errno_of(&remote(Some(70000), None)), libc::EIO);
    }

    #[test]
    fn strings_map_exactly_ignoring_case_or_by_containment() {
        assert_eq!(errno_of(&remote(None, Some("file does not exist"))), 2);
        assert_eq!(errno_of(&remote(None, Some("Permission denied"))), 13);
        assert_eq!(errno_of(&remote(None, Some("'x' file does not exist"))), 2);
        assert_eq!(
            errno_of_string("too many open files in system"),
            Some(libc::ENFILE)
        );
        assert_eq!(errno_of(&remote(None, Some("flux capacitor"))), libc::EIO);
        // An errno of 0 beside a known string: the string decides.
        assert_eq!(errno_of(&remote(Some(0), Some("file exists"))), 17);
    }

    #[test]
    fn local_failures_have_fixed_errnos() {
        assert_eq!(errno_of(&Error::Flushed), libc::EINTR);
        assert_eq!(errno_of(&Error::FlushUnconfirmed), libc::EINTR);
        assert_eq!(errno_of(&Error::Disconnected("x".into())), libc::EIO);
        assert_eq!(errno_of(&Error::Protocol("x".into())), libc::EIO);
        assert_eq!(errno_of(&Error::TagsExhausted(1)), libc::EAGAIN);
        assert_eq!(errno_of(&Error::FidsExhausted), libc::ENFILE);
        assert_eq!(errno_of(&Error::Invalid("x".into())), libc::EINVAL);
        assert_eq!(errno_of(&Error::Negotiation("x".into())), libc::EIO);
    }
}
