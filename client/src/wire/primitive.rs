//! The encoding trait and the primitive 9P types: integers, strings,
//! counted data, qids and the dialect-dependent optional fields.
//!
//! Every 9P integer is little-endian. Strings carry a `u16` byte count,
//! data a `u32` count. Decoding checks each count against the bytes that are
//! left in the frame *before* it allocates or slices, so a hostile count can
//! never make us reserve more memory than the frame already holds.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::fmt;

use super::{DecodeError, Dialect};

/// A value that has a 9P wire form.
///
/// `encode` never fails: the caller sized the buffer with `encoded_len`, and
/// values that cannot be encoded (a string over 64 KiB) are rejected when the
/// message is built (see [`NineStr::new`]).
pub trait Wire: Sized {
    /// Number of bytes `encode` writes.
    fn encoded_len(&self) -> usize;
    /// Append the wire form to `buf`.
    fn encode(&self, buf: &mut BytesMut);
    /// Read one value from the front of `r`.
    fn decode(r: &mut Reader) -> Result<Self, DecodeError>;
}

/// A cursor over one frame's body.
///
/// It owns a reference-counted [`Bytes`], so `data` fields are returned as
/// zero-copy slices of the received frame. It also carries the negotiated
/// dialect, which decides whether the 9P2000.u/.L extension fields are present.
#[derive(Debug, Clone)]
pub struct Reader {
    buf: Bytes,
    dialect: Dialect,
}

impl Reader {
    /// A reader over `buf` for a connection speaking `dialect`.
    pub fn new(buf: Bytes, dialect: Dialect) -> Self {
        Reader { buf, dialect }
    }

    /// The dialect the bytes are decoded in.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Bytes not consumed yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn need(&self, n: usize, what: &'static str) -> Result<(), DecodeError> {
        if self.buf.len() < n {
            Err(DecodeError::Truncated {
                what,
                need: n,
                have: self.buf.len(),
            })
        } else {
            Ok(())
        }
    }

    /// Take exactly `n` bytes as a zero-copy slice.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<Bytes, DecodeError> {
        self.need(n, what)?;
        Ok(self.buf.split_to(n))
    }

    /// Fail unless every byte was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes(self.buf.len()))
        }
    }
}

macro_rules! wire_int {
    ($t:ty, $get:ident, $put:ident) => {
        impl Wire for $t {
            fn encoded_len(&self) -> usize {
                std::mem::size_of::<$t>()
            }
            fn encode(&self, buf: &mut BytesMut) {
                buf.$put(*self);
            }
            fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
                r.need(std::mem::size_of::<$t>(), stringify!($t))?;
                Ok(r.buf.$get())
            }
        }
    };
}

impl Wire for u8 {
    fn encoded_len(&self) -> usize {
        1
    }
    fn encode(&self, buf: &mut BytesMut) {
        buf.put_u8(*self);
    }
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        r.need(1, "u8")?;
        Ok(r.buf.get_u8())
    }
}
wire_int!(u16, get_u16_le, put_u16_le);
wire_int!(u32, get_u32_le, put_u32_le);
wire_int!(u64, get_u64_le, put_u64_le);

/// A 9P string: at most 65535 bytes, sent with a `u16` length.
///
/// 9P says strings are UTF-8, but 9P2000.L servers export Linux file names,
/// which are arbitrary bytes; so the bytes are kept as they came and
/// converted only where a caller asks ([`NineStr::to_str_lossy`]).
#[derive(Clone, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct NineStr(Bytes);

impl NineStr {
    /// Largest string the wire form can carry.
    pub const MAX_LEN: usize = u16::MAX as usize;

    /// A string from bytes; `None` when it is longer than [`Self::MAX_LEN`].
    pub fn new(bytes: impl Into<Bytes>) -> Option<Self> {
        let b = bytes.into();
        (b.len() <= Self::MAX_LEN).then_some(NineStr(b))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes as text, with invalid UTF-8 replaced.
    pub fn to_str_lossy(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for NineStr {
    /// Panics on strings over 64 KiB: a programming error, never server input.
    fn from(s: &str) -> Self {
        NineStr::new(Bytes::copy_from_slice(s.as_bytes())).expect("9P string over 65535 bytes")
    }
}

impl From<String> for NineStr {
    /// Panics on strings over 64 KiB: a programming error, never server input.
    fn from(s: String) -> Self {
        NineStr::new(s).expect("9P string over 65535 bytes")
    }
}

impl fmt::Debug for NineStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_str_lossy(), f)
    }
}

impl fmt::Display for NineStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_str_lossy(), f)
    }
}

impl Wire for NineStr {
    fn encoded_len(&self) -> usize {
        2 + self.0.len()
    }
    fn encode(&self, buf: &mut BytesMut) {
        buf.put_u16_le(self.0.len() as u16);
        buf.put_slice(&self.0);
    }
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let n = u16::decode(r)? as usize;
        Ok(NineStr(r.take(n, "string")?))
    }
}

/// Counted data (`count[4] data[count]`) as in Tread/Rread/Treaddir replies.
///
/// `Debug` prints only the length: dumps of megabytes help nobody.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Data(pub Bytes);

impl fmt::Debug for Data {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Data({} bytes)", self.0.len())
    }
}

impl Wire for Data {
    fn encoded_len(&self) -> usize {
        4 + self.0.len()
    }
    fn encode(&self, buf: &mut BytesMut) {
        buf.put_u32_le(self.0.len() as u32);
        buf.put_slice(&self.0);
    }
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let n = u32::decode(r)? as usize;
        Ok(Data(r.take(n, "data")?))
    }
}

/// A list with a `u16` count, as the names of Twalk and the qids of Rwalk.
///
/// Elements are pushed one by one as they decode: each consumes at least one
/// byte, so the allocation is bounded by the frame, whatever the count says.
impl<T: Wire> Wire for Vec<T> {
    fn encoded_len(&self) -> usize {
        2 + self.iter().map(Wire::encoded_len).sum::<usize>()
    }
    fn encode(&self, buf: &mut BytesMut) {
        buf.put_u16_le(self.len() as u16);
        for v in self {
            v.encode(buf);
        }
    }
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let n = u16::decode(r)?;
        let mut v = Vec::new();
        for _ in 0..n {
            v.push(T::decode(r)?);
        }
        Ok(v)
    }
}

/// A field that only 9P2000.u and 9P2000.L carry (`n_uname`, the Rerror
/// errno, the stat extension, Tcreate's extension).
///
/// Encoded when `Some`; decoded when the reader's dialect has the Unix
/// extensions. Building a message for plain 9P2000 means passing `None`.
impl<T: Wire> Wire for Option<T> {
    fn encoded_len(&self) -> usize {
        self.as_ref().map_or(0, Wire::encoded_len)
    }
    fn encode(&self, buf: &mut BytesMut) {
        if let Some(v) = self {
            v.encode(buf);
        }
    }
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        if r.dialect.has_unix_extensions() {
            T::decode(r).map(Some)
        } else {
            Ok(None)
        }
    }
}

/// The server's unique identity of a file: `type[1] version[4] path[8]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Qid {
    /// Kind bits (`QTDIR`, `QTSYMLINK`, ...), the top byte of the mode.
    pub ty: u8,
    /// Changes when the file changes (servers differ on how).
    pub version: u32,
    /// Unique per file on the server: what the FUSE layer keys inodes by.
    pub path: u64,
}

impl Qid {
    /// Directory.
    pub const QTDIR: u8 = 0x80;
    /// Append-only file.
    pub const QTAPPEND: u8 = 0x40;
    /// Exclusive-use file.
    pub const QTEXCL: u8 = 0x20;
    /// Authentication file.
    pub const QTAUTH: u8 = 0x08;
    /// Temporary file (not backed up).
    pub const QTTMP: u8 = 0x04;
    /// Symbolic link (9P2000.u/.L).
    pub const QTSYMLINK: u8 = 0x02;
    /// Plain file.
    pub const QTFILE: u8 = 0x00;

    /// True for a directory.
    pub fn is_dir(&self) -> bool {
        self.ty & Self::QTDIR != 0
    }
}

impl Wire for Qid {
    fn encoded_len(&self) -> usize {
        13
    }
    fn encode(&self, buf: &mut BytesMut) {
        buf.put_u8(self.ty);
        buf.put_u32_le(self.version);
        buf.put_u64_le(self.path);
    }
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Qid {
            ty: u8::decode(r)?,
            version: u32::decode(r)?,
            path: u64::decode(r)?,
        })
    }
}
