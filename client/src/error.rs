//! Errors, split by who is at fault: the bytes (decode), the server's answer
//! (remote errno or error string), the server's conduct (protocol
//! violation), the connection (I/O, disconnect), our own cancellation
//! (flushed), and local limits (tags, fids, sizes).

use crate::wire::DecodeError;

/// What went wrong with a 9P request.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// A reply could not be decoded; the connection is still in sync.
    #[error("malformed reply: {0}")]
    Decode(#[from] DecodeError),
    /// The server answered with an error.
    #[error("{0}")]
    Remote(RemoteError),
    /// The server broke the protocol (wrong reply type, reply to an unknown
    /// tag, more walk qids than names, ...).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The connection is gone; every request in flight failed with this.
    #[error("connection lost: {0}")]
    Disconnected(String),
    /// The request was cancelled: the server confirmed with Rflush before
    /// answering it, so it had no effect.
    #[error("request flushed")]
    Flushed,
    /// The request was cancelled, but the server confirmed none of the
    /// Tflush sent for it in time; it may still take effect.
    #[error("request flushed, but the server did not confirm the flush")]
    FlushUnconfirmed,
    /// Every tag is in flight (or reserved).
    #[error("no free tag: {0} requests in flight")]
    TagsExhausted(usize),
    /// Every fid number is in use.
    #[error("no free fid")]
    FidsExhausted,
    /// Tversion failed: no dialect both sides speak, or a bad msize.
    #[error("version negotiation failed: {0}")]
    Negotiation(String),
    /// The peer is not a 9P server: it answered Tversion with something
    /// that is not a 9P message, or with nothing at all (what it sent is
    /// quoted when it is text).
    #[error("not a 9P server: {0}")]
    NotNinep(String),
    /// The caller asked for something 9P cannot carry (a name over 64 KiB,
    /// a message over msize).
    #[error("invalid request: {0}")]
    Invalid(String),
}

/// A server's error reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteError {
    /// The Linux errno (Rlerror, or the 9P2000.u Rerror errno), if any.
    pub errno: Option<u32>,
    /// The 9P2000 error string, kept verbatim, if any.
    pub ename: Option<String>,
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The errno's text is the local libc's: 9P2000.L errnos are Linux's.
        let text = |e: u32| std::io::Error::from_raw_os_error(e as i32).kind();
        match (&self.ename, self.errno) {
            (Some(s), Some(e)) => write!(f, "server error: {s} (errno {e})"),
            (Some(s), None) => write!(f, "server error: {s}"),
            (None, Some(e)) => write!(f, "server error: {} (errno {e})", text(e)),
            (None, None) => f.write_str("server error"),
        }
    }
}

impl Error {
    /// The errno of a remote error, if the server sent one.
    pub fn errno(&self) -> Option<u32> {
        match self {
            Error::Remote(r) => r.errno,
            _ => None,
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
