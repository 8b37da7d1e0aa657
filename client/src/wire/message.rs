//! The [`Tmessage`] and [`Rmessage`] enums: every message body of the three
//! dialects, keyed by its type code. A reply's code is its request's + 1.

use bytes::BytesMut;

use super::classic::*;
use super::linux::*;
use super::{DecodeError, Dialect, Reader, Wire};

/// Type codes, as in Linux `include/net/9p/9p.h` and Plan 9's `fcall.h`.
#[allow(missing_docs)]
pub mod msg_type {
    pub const RLERROR: u8 = 7;
    pub const TSTATFS: u8 = 8;
    pub const RSTATFS: u8 = 9;
    pub const TLOPEN: u8 = 12;
    pub const RLOPEN: u8 = 13;
    pub const TLCREATE: u8 = 14;
    pub const RLCREATE: u8 = 15;
    pub const TSYMLINK: u8 = 16;
    pub const RSYMLINK: u8 = 17;
    pub const TMKNOD: u8 = 18;
    pub const RMKNOD: u8 = 19;
    pub const TRENAME: u8 = 20;
    pub const RRENAME: u8 = 21;
    pub const TREADLINK: u8 = 22;
    pub const RREADLINK: u8 = 23;
    pub const TGETATTR: u8 = 24;
    pub const RGETATTR: u8 = 25;
    pub const TSETATTR: u8 = 26;
    pub const RSETATTR: u8 = 27;
    pub const TXATTRWALK: u8 = 30;
    pub const RXATTRWALK: u8 = 31;
    pub const TXATTRCREATE: u8 = 32;
    pub const RXATTRCREATE: u8 = 33;
    pub const TREADDIR: u8 = 40;
    pub const RREADDIR: u8 = 41;
    pub const TFSYNC: u8 = 50;
    pub const RFSYNC: u8 = 51;
    pub const TLOCK: u8 = 52;
    pub const RLOCK: u8 = 53;
    pub const TGETLOCK: u8 = 54;
    pub const RGETLOCK: u8 = 55;
    pub const TLINK: u8 = 70;
    pub const RLINK: u8 = 71;
    pub const TMKDIR: u8 = 72;
    pub const RMKDIR: u8 = 73;
    pub const TRENAMEAT: u8 = 74;
    pub const RRENAMEAT: u8 = 75;
    pub const TUNLINKAT: u8 = 76;
    pub const RUNLINKAT: u8 = 77;
    pub const TVERSION: u8 = 100;
    pub const RVERSION: u8 = 101;
    pub const TAUTH: u8 = 102;
    pub const RAUTH: u8 = 103;
    pub const TATTACH: u8 = 104;
    pub const RATTACH: u8 = 105;
    pub const RERROR: u8 = 107;
    pub const TFLUSH: u8 = 108;
    pub const RFLUSH: u8 = 109;
    pub const TWALK: u8 = 110;
    pub const RWALK: u8 = 111;
    pub const TOPEN: u8 = 112;
    pub const ROPEN: u8 = 113;
    pub const TCREATE: u8 = 114;
    pub const RCREATE: u8 = 115;
    pub const TREAD: u8 = 116;
    pub const RREAD: u8 = 117;
    pub const TWRITE: u8 = 118;
    pub const RWRITE: u8 = 119;
    pub const TCLUNK: u8 = 120;
    pub const RCLUNK: u8 = 121;
    pub const TREMOVE: u8 = 122;
    pub const RREMOVE: u8 = 123;
    pub const TSTAT: u8 = 124;
    pub const RSTAT: u8 = 125;
    pub const TWSTAT: u8 = 126;
    pub const RWSTAT: u8 = 127;
}

/// A message body that can be framed: what the frame codec needs to know.
pub trait Message: Sized {
    /// The type code.
    fn msg_type(&self) -> u8;
    /// Bytes of the body (the frame adds 7).
    fn body_len(&self) -> usize;
    /// Append the body.
    fn encode_body(&self, buf: &mut BytesMut);
    /// Decode a body of type `ty`; the whole of `r` must be consumed.
    fn decode_body(ty: u8, r: &mut Reader) -> Result<Self, DecodeError>;
}

macro_rules! message_enum {
    ($(#[$m:meta])* $enum:ident { $($code:path => $v:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum $enum { $($v($v),)* }

        impl $enum {
            /// The message's name as in the spec, for logs.
            pub fn name(&self) -> &'static str {
                match self { $(Self::$v(_) => stringify!($v),)* }
            }

            fn code(&self) -> u8 {
                match self { $(Self::$v(_) => $code,)* }
            }

            fn len(&self) -> usize {
                match self { $(Self::$v(m) => m.encoded_len(),)* }
            }

            fn encode_known(&self, buf: &mut BytesMut) {
                match self { $(Self::$v(m) => m.encode(buf),)* }
            }

            fn decode_known(ty: u8, r: &mut Reader) -> Result<Self, DecodeError> {
                let m = match ty {
                    $($code => Self::$v(Wire::decode(r)?),)*
                    _ => return Err(DecodeError::UnknownType(ty)),
                };
                r.finish()?;
                Ok(m)
            }
        }

        $(impl From<$v> for $enum {
            fn from(m: $v) -> Self { Self::$v(m) }
        })*
    };
}

message_enum! {
    /// A request (T-message) of any dialect.
    Tmessage {
        msg_type::TSTATFS => Tstatfs,
        msg_type::TLOPEN => Tlopen,
        msg_type::TLCREATE => Tlcreate,
        msg_type::TSYMLINK => Tsymlink,
        msg_type::TMKNOD => Tmknod,
        msg_type::TRENAME => Trename,
        msg_type::TREADLINK => Treadlink,
        msg_type::TGETATTR => Tgetattr,
        msg_type::TSETATTR => Tsetattr,
        msg_type::TXATTRWALK => Txattrwalk,
        msg_type::TXATTRCREATE => Txattrcreate,
        msg_type::TREADDIR => Treaddir,
        msg_type::TFSYNC => Tfsync,
        msg_type::TLOCK => Tlock,
        msg_type::TGETLOCK => Tgetlock,
        msg_type::TLINK => Tlink,
        msg_type::TMKDIR => Tmkdir,
        msg_type::TRENAMEAT => Trenameat,
        msg_type::TUNLINKAT => Tunlinkat,
        msg_type::TVERSION => Tversion,
        msg_type::TAUTH => Tauth,
        msg_type::TATTACH => Tattach,
        msg_type::TFLUSH => Tflush,
        msg_type::TWALK => Twalk,
        msg_type::TOPEN => Topen,
        msg_type::TCREATE => Tcreate,
        msg_type::TREAD => Tread,
        msg_type::TWRITE => Twrite,
        msg_type::TCLUNK => Tclunk,
        msg_type::TREMOVE => Tremove,
        msg_type::TSTAT => Tstat,
        msg_type::TWSTAT => Twstat,
    }
}

message_enum! {
    /// A reply (R-message) of any dialect.
    Rmessage {
        msg_type::RLERROR => Rlerror,
        msg_type::RSTATFS => Rstatfs,
        msg_type::RLOPEN => Rlopen,
        msg_type::RLCREATE => Rlcreate,
        msg_type::RSYMLINK => Rsymlink,
        msg_type::RMKNOD => Rmknod,
        msg_type::RRENAME => Rrename,
        msg_type::RREADLINK => Rreadlink,
        msg_type::RGETATTR => Rgetattr,
        msg_type::RSETATTR => Rsetattr,
        msg_type::RXATTRWALK => Rxattrwalk,
        msg_type::RXATTRCREATE => Rxattrcreate,
        msg_type::RREADDIR => Rreaddir,
        msg_type::RFSYNC => Rfsync,
        msg_type::RLOCK => Rlock,
        msg_type::RGETLOCK => Rgetlock,
        msg_type::RLINK => Rlink,
        msg_type::RMKDIR => Rmkdir,
        msg_type::RRENAMEAT => Rrenameat,
        msg_type::RUNLINKAT => Runlinkat,
        msg_type::RVERSION => Rversion,
        msg_type::RAUTH => Rauth,
        msg_type::RATTACH => Rattach,
        msg_type::RERROR => Rerror,
        msg_type::RFLUSH => Rflush,
        msg_type::RWALK => Rwalk,
        msg_type::ROPEN => Ropen,
        msg_type::RCREATE => Rcreate,
        msg_type::RREAD => Rread,
        msg_type::RWRITE => Rwrite,
        msg_type::RCLUNK => Rclunk,
        msg_type::RREMOVE => Rremove,
        msg_type::RSTAT => Rstat,
        msg_type::RWSTAT => Rwstat,
    }
}

impl Message for Tmessage {
    fn msg_type(&self) -> u8 {
        self.code()
    }
    fn body_len(&self) -> usize {
        self.len()
    }
    fn encode_body(&self, buf: &mut BytesMut) {
        self.encode_known(buf)
    }
    fn decode_body(ty: u8, r: &mut Reader) -> Result<Self, DecodeError> {
        Self::decode_known(ty, r)
    }
}

impl Message for Rmessage {
    fn msg_type(&self) -> u8 {
        self.code()
    }
    fn body_len(&self) -> usize {
        self.len()
    }
    fn encode_body(&self, buf: &mut BytesMut) {
        self.encode_known(buf)
    }
    /// nfs-ganesha sends every error as type 107 (Rerror) with the Rlerror
    /// body (a 4-byte errno), under 9P2000.L too; Linux accepts that, and so
    /// do we, once 9P2000.L is negotiated.
    fn decode_body(ty: u8, r: &mut Reader) -> Result<Self, DecodeError> {
        if ty == msg_type::RERROR && r.dialect() == Dialect::L && r.remaining() == 4 {
            return Self::decode_known(msg_type::RLERROR, r);
        }
        Self::decode_known(ty, r)
    }
}

impl Rmessage {
    /// True for Rlerror and Rerror.
    pub fn is_error(&self) -> bool {
        matches!(self, Rmessage::Rlerror(_) | Rmessage::Rerror(_))
    }

    /// True when this reply can answer a request of type `t`: its own reply
    /// type or an error (Tversion gets no error in the spec, but servers
    /// such as diod answer a refused dialect with Rlerror).
    pub fn answers(&self, t: u8) -> bool {
        self.is_error() || self.code() == t.wrapping_add(1)
    }
}

impl Tmessage {
    /// The type code.
    pub fn ty(&self) -> u8 {
        self.code()
    }
}
