//! Directory payloads: the packed entries of Rreaddir (9P2000.L) and the
//! packed stats that a 9P2000 Tread of a directory returns.

use bytes::Bytes;

use super::{DecodeError, Dialect, NineStr, Qid, Reader, Stat, Wire};

/// One Rreaddir entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirent {
    /// The entry's qid.
    pub qid: Qid,
    /// Offset to pass to the next Treaddir to continue after this entry.
    pub offset: u64,
    /// `DT_*` type, as in Linux dirent.
    pub ty: u8,
    /// The name (unchecked: the caller filters `/`, NUL, `.`, `..`).
    pub name: NineStr,
}

impl Wire for Dirent {
    fn encoded_len(&self) -> usize {
        13 + 8 + 1 + self.name.encoded_len()
    }
    fn encode(&self, buf: &mut bytes::BytesMut) {
        self.qid.encode(buf);
        self.offset.encode(buf);
        self.ty.encode(buf);
        self.name.encode(buf);
    }
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Dirent {
            qid: Wire::decode(r)?,
            offset: Wire::decode(r)?,
            ty: Wire::decode(r)?,
            name: Wire::decode(r)?,
        })
    }
}

/// Every entry of an Rreaddir payload; an entry cut off is an error.
pub fn parse_dirents(data: Bytes) -> Result<Vec<Dirent>, DecodeError> {
    parse_all(data, Dialect::L)
}

/// Every stat of a 9P2000(.u) directory read.
pub fn parse_stats(data: Bytes, dialect: Dialect) -> Result<Vec<Stat>, DecodeError> {
    parse_all(data, dialect)
}

fn parse_all<T: Wire>(data: Bytes, dialect: Dialect) -> Result<Vec<T>, DecodeError> {
    let mut r = Reader::new(data, dialect);
    let mut out = Vec::new();
    while r.remaining() > 0 {
        out.push(T::decode(&mut r)?);
    }
    Ok(out)
}
