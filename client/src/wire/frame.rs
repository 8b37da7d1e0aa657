//! Framing: `size[4] type[1] tag[2] body`, where `size` counts itself.
//!
//! The size field is checked against the 7-byte minimum and the negotiated
//! msize before a single byte of the body is buffered or allocated: a
//! hostile size costs nothing but an error.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::message::{Message, Tmessage};
use super::{Data, DecodeError, Dialect, Reader, Twrite};
use crate::ids::Tag;

/// Bytes before the body: size, type, tag.
pub const HEADER_LEN: usize = 7;
/// Smallest valid frame.
pub const MIN_FRAME: u32 = HEADER_LEN as u32;
/// Header bytes of Twrite/Rread around their data: msize - IOHDRSZ is the
/// largest payload one message carries (Plan 9's `IOHDRSZ`).
pub const IOHDRSZ: u32 = 24;

/// One decoded frame: its tag, and its body or why the body is malformed.
pub type Frame<M> = (Tag, Result<M, DecodeError>);

/// Append one framed message to `buf`.
pub fn encode_frame<M: Message>(tag: Tag, msg: &M, buf: &mut BytesMut) {
    let size = HEADER_LEN + msg.body_len();
    buf.reserve(size);
    buf.put_u32_le(size as u32);
    buf.put_u8(msg.msg_type());
    buf.put_u16_le(tag.0);
    msg.encode_body(buf);
}

/// Twrite data of at least this many bytes is left out of the write
/// buffer by [`encode_frame_split`]; smaller data costs less to copy than
/// one more piece of a vectored write.
pub const SPLIT_MIN: usize = 4096;

/// As [`encode_frame`], but the data of a Twrite of [`SPLIT_MIN`] bytes or
/// more is not copied: `buf` gets the frame up to it and the data is
/// returned, to be sent right after (the caller's `Bytes`, shared).
pub fn encode_frame_split(tag: Tag, msg: &Tmessage, buf: &mut BytesMut) -> Option<Bytes> {
    let w = match msg {
        Tmessage::Twrite(w) if w.data.0.len() >= SPLIT_MIN => w,
        _ => {
            encode_frame(tag, msg, buf);
            return None;
        }
    };
    let start = buf.len();
    let head = Twrite {
        fid: w.fid,
        offset: w.offset,
        data: Data(Bytes::new()),
    };
    encode_frame(tag, &Tmessage::from(head), buf);
    // The empty Twrite ends with its count[4]: set it, and the size, to
    // what the data makes them.
    let n = w.data.0.len() as u32;
    let size = (buf.len() - start) as u32 + n;
    buf[start..start + 4].copy_from_slice(&size.to_le_bytes());
    let end = buf.len();
    buf[end - 4..].copy_from_slice(&n.to_le_bytes());
    Some(w.data.0.clone())
}

/// Split one whole frame off the front of `buf` and decode it.
///
/// `Ok(None)`: not a whole frame yet, read more. An error on the size field
/// means the stream cannot be trusted any more (framing is lost); an error
/// in the body leaves the stream in sync (the frame was consumed) and is
/// reported with the frame's tag so the caller can fail that request alone.
pub fn decode_frame<M: Message>(
    buf: &mut BytesMut,
    msize: u32,
    dialect: Dialect,
) -> Result<Option<Frame<M>>, DecodeError> {
    let Some(size) = check_size(buf, msize)? else {
        return Ok(None);
    };
    if buf.len() < size {
        buf.reserve(size - buf.len());
        return Ok(None);
    }
    let mut frame = buf.split_to(size).freeze();
    frame.advance(4);
    let ty = frame.get_u8();
    let tag = Tag(frame.get_u16_le());
    let mut r = Reader::new(frame, dialect);
    Ok(Some((tag, M::decode_body(ty, &mut r))))
}

/// Bytes of an Rread before its data: the header and `count[4]`.
pub const RREAD_HEAD: usize = HEADER_LEN + 4;

/// The tag and data count of a well-formed Rread frame starting `buf`,
/// once its first [`RREAD_HEAD`] bytes are in: its data may then be read
/// anywhere. `None` for anything else, also a malformed frame, which is
/// left for [`decode_frame`] to reject.
pub fn peek_rread(buf: &[u8], msize: u32) -> Option<(Tag, u32)> {
    let head = buf.get(..RREAD_HEAD)?;
    let word = |at: usize| u32::from_le_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let (size, count) = (word(0), word(7));
    let fits = size <= msize && u64::from(size) == RREAD_HEAD as u64 + u64::from(count);
    (head[4] == super::msg_type::RREAD && fits)
        .then(|| (Tag(u16::from_le_bytes([head[5], head[6]])), count))
}

fn check_size(buf: &BytesMut, msize: u32) -> Result<Option<usize>, DecodeError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let size = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
    if size < MIN_FRAME {
        return Err(DecodeError::FrameTooSmall(size));
    }
    if size > msize {
        return Err(DecodeError::FrameTooLarge { size, msize });
    }
    Ok(Some(size as usize))
}

/// Incremental decoder state for one direction of a connection: the limit
/// in force and the dialect, which change after Tversion.
#[derive(Debug, Clone, Copy)]
pub struct FrameDecoder {
    /// Largest frame accepted.
    pub msize: u32,
    /// Dialect the bodies are decoded in.
    pub dialect: Dialect,
}

impl FrameDecoder {
    /// Decode the next frame from `buf`, as [`decode_frame`].
    pub fn decode<M: Message>(&self, buf: &mut BytesMut) -> Result<Option<Frame<M>>, DecodeError> {
        decode_frame(buf, self.msize, self.dialect)
    }
}
