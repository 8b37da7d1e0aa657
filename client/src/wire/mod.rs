//! The 9P wire codec: bytes <-> messages, pure and synchronous.
//!
//! # Layout
//! - `primitive`: the [`Wire`] trait, integers, [`NineStr`], [`Data`], [`Qid`].
//! - `linux`: the 9P2000.L messages.
//! - `classic`: the 9P2000 and 9P2000.u messages and the stat structure.
//! - `message`: the [`Tmessage`] / [`Rmessage`] enums and their type codes.
//! - `frame`: `size[4] type[1] tag[2] body`, with the size checks done
//!   before any allocation.
//! - `dirent`: parsing of Rreaddir payloads and 9P2000 directory reads.

#[macro_use]
mod macros;
mod classic;
mod dirent;
mod frame;
mod linux;
mod message;
mod primitive;

pub use classic::*;
pub use dirent::{parse_dirents, parse_stats, Dirent};
pub use frame::{
    decode_frame, encode_frame, encode_frame_split, peek_rread, Frame, FrameDecoder, HEADER_LEN,
    IOHDRSZ, MIN_FRAME, RREAD_HEAD, SPLIT_MIN,
};
pub use linux::*;
pub use message::{msg_type, Message, Rmessage, Tmessage};
pub use primitive::{Data, NineStr, Qid, Reader, Wire};

/// A 9P protocol dialect, as named in Tversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// 9P2000.L: Linux semantics, numeric ids, Rlerror with an errno.
    L,
    /// 9P2000.u: Unix extensions to plain 9P2000.
    U,
    /// Plain 9P2000 (Plan 9).
    Classic,
}

impl Dialect {
    /// The version string sent in Tversion.
    pub fn version_string(self) -> &'static str {
        match self {
            Dialect::L => "9P2000.L",
            Dialect::U => "9P2000.u",
            Dialect::Classic => "9P2000",
        }
    }

    /// Parse a version string as a server returns it.
    pub fn from_version_string(s: &[u8]) -> Option<Dialect> {
        match s {
            b"9P2000.L" => Some(Dialect::L),
            b"9P2000.u" => Some(Dialect::U),
            b"9P2000" => Some(Dialect::Classic),
            _ => None,
        }
    }

    /// True when `n_uname`, the Rerror errno and the stat extension exist.
    pub fn has_unix_extensions(self) -> bool {
        !matches!(self, Dialect::Classic)
    }
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.version_string())
    }
}

/// Why bytes could not be read as a 9P message. Always the server's (or the
/// wire's) fault: our own messages never fail to decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// A field runs past the end of the frame.
    #[error("truncated {what}: need {need} bytes, {have} left in the frame")]
    Truncated {
        /// The field being read.
        what: &'static str,
        /// Bytes it needs.
        need: usize,
        /// Bytes left.
        have: usize,
    },
    /// The frame has bytes after its last field.
    #[error("{0} unexpected bytes after the last field")]
    TrailingBytes(usize),
    /// The size field is below the 7-byte header.
    #[error("frame size {0} is below the 7-byte minimum")]
    FrameTooSmall(u32),
    /// The size field exceeds the negotiated msize.
    #[error("frame size {size} exceeds msize {msize}")]
    FrameTooLarge {
        /// The size field.
        size: u32,
        /// The limit in force.
        msize: u32,
    },
    /// A type code that is not a message of the dialect.
    #[error("unknown message type {0}")]
    UnknownType(u8),
    /// A nested length (a stat's size) disagrees with its contents.
    #[error("bad length: {0}")]
    BadLength(&'static str),
}

#[cfg(test)]
mod tests;
