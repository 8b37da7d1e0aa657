//! Tags and fids: the two identifier spaces a 9P client manages.
//!
//! # Lifecycles
//! ```text
//! Tag:  free --send T--> in flight --reply--> free
//!                            |  (a flush chain keeps it reserved
//!                            |   until the last Rflush, or quarantined)
//! Fid:  free --Tattach/Twalk newfid--> bound --Tclunk/Tremove sent--> dying
//!        ^          (error reply: back to free)              |
//!        +-------------------- any reply --------------------+
//! ```
//! A fid is dead from the moment its Tclunk or Tremove is sent (no new
//! request may name it), but its number is only reused once the reply has
//! come: until then the server may still know it.

use bytes::BytesMut;
use std::fmt;

use crate::wire::{DecodeError, Reader, Wire};

/// A request tag: pairs a reply with its request on one connection.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tag(pub u16);

/// The tag of Tversion, which is outside the tag space.
pub const NOTAG: Tag = Tag(0xFFFF);

/// A file identifier chosen by the client, naming a file on the server.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fid(pub u32);

/// "No fid": the afid of an attach without authentication.
pub const NOFID: Fid = Fid(0xFFFF_FFFF);

impl fmt::Debug for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == NOTAG {
            f.write_str("NOTAG")
        } else {
            write!(f, "tag {}", self.0)
        }
    }
}

impl fmt::Debug for Fid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == NOFID {
            f.write_str("NOFID")
        } else {
            write!(f, "fid {}", self.0)
        }
    }
}

impl Wire for Tag {
    fn encoded_len(&self) -> usize {
        2
    }
    fn encode(&self, buf: &mut BytesMut) {
        self.0.encode(buf)
    }
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        u16::decode(r).map(Tag)
    }
}

impl Wire for Fid {
    fn encoded_len(&self) -> usize {
        4
    }
    fn encode(&self, buf: &mut BytesMut) {
        self.0.encode(buf)
    }
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        u32::decode(r).map(Fid)
    }
}
