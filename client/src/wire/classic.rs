//! Messages of plain 9P2000 (Plan 9) and their 9P2000.u extensions: open,
//! create, stat, wstat, Rerror, and the stat structure. Layouts from the
//! Plan 9 manual, section 5; the .u fields as in Linux `net/9p/protocol.c`.

use bytes::{BufMut, BytesMut};

use super::{DecodeError, NineStr, Qid, Reader, Wire};
use crate::ids::Fid;

/// 9P2000 error reply: a string, plus an errno in 9P2000.u.
///
/// Decoding is lenient in plain 9P2000: a server that appends the .u
/// errno anyway (as some do, and as the Linux driver tolerates) has it
/// read rather than rejected as trailing bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rerror {
    /// The error text.
    pub ename: NineStr,
    /// The errno (9P2000.u; 0 or absent: none).
    pub errno: Option<u32>,
}

impl Wire for Rerror {
    fn encoded_len(&self) -> usize {
        self.ename.encoded_len() + self.errno.encoded_len()
    }
    fn encode(&self, buf: &mut BytesMut) {
        self.ename.encode(buf);
        self.errno.encode(buf);
    }
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let ename = NineStr::decode(r)?;
        let errno = match r.remaining() {
            4 if !r.dialect().has_unix_extensions() => Some(u32::decode(r)?),
            _ => Wire::decode(r)?,
        };
        Ok(Rerror { ename, errno })
    }
}
wire_struct! {
    /// Open `fid` with a 9P mode (`OREAD`, `OWRITE`, `ORDWR`, `OEXEC`, `OTRUNC`...).
    Topen { fid: Fid, mode: u8 }
}
wire_struct! {
    /// The opened file's qid and iounit.
    Ropen { qid: Qid, iounit: u32 }
}
wire_struct! {
    /// Create `name` in directory `fid` and open it; `extension` (9P2000.u)
    /// holds a symlink target or device description.
    Tcreate { fid: Fid, name: NineStr, perm: u32, mode: u8, extension: Option<NineStr> }
}
wire_struct! {
    /// The created file's qid and iounit.
    Rcreate { qid: Qid, iounit: u32 }
}
wire_struct! {
    /// Ask for `fid`'s stat.
    Tstat { fid: Fid }
}
wire_struct! {
    /// The stat was changed.
    Rwstat {}
}
wire_struct! {
    /// The 9P2000.u additions at the end of a stat.
    StatExt { extension: NineStr, n_uid: u32, n_gid: u32, n_muid: u32 }
}

/// The 9P2000 directory entry (stat(5)), with the 9P2000.u extension when
/// that dialect is spoken. On the wire it begins with its own `size[2]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Stat {
    /// For kernel use.
    pub ty: u16,
    /// For kernel use.
    pub dev: u32,
    /// The file's qid.
    pub qid: Qid,
    /// Permissions and `DM*` bits.
    pub mode: u32,
    /// Last access time, seconds since the epoch.
    pub atime: u32,
    /// Last modification time.
    pub mtime: u32,
    /// Length in bytes.
    pub length: u64,
    /// Last element of the path.
    pub name: NineStr,
    /// Owner.
    pub uid: NineStr,
    /// Group.
    pub gid: NineStr,
    /// Last modifier.
    pub muid: NineStr,
    /// 9P2000.u fields (present iff the dialect is 9P2000.u).
    pub ext: Option<StatExt>,
}

impl Stat {
    /// The 9P2000 `DMDIR` mode bit.
    pub const DMDIR: u32 = 0x8000_0000;
    /// Append-only file: every write goes to the end.
    pub const DMAPPEND: u32 = 0x4000_0000;
    /// Exclusive use: one open at a time.
    pub const DMEXCL: u32 = 0x2000_0000;
    /// Authentication file.
    pub const DMAUTH: u32 = 0x0800_0000;
    /// Not backed up.
    pub const DMTMP: u32 = 0x0400_0000;
    /// The 9P2000.u `DMSYMLINK` mode bit (the target is the extension).
    pub const DMSYMLINK: u32 = 0x0200_0000;
    /// 9P2000.u: Tcreate of a hard link (extension: the target's fid).
    pub const DMLINK: u32 = 0x0100_0000;
    /// 9P2000.u device file (extension: `b MAJOR MINOR` or `c MAJOR MINOR`).
    pub const DMDEVICE: u32 = 0x0080_0000;
    /// 9P2000.u named pipe.
    pub const DMNAMEDPIPE: u32 = 0x0020_0000;
    /// 9P2000.u socket.
    pub const DMSOCKET: u32 = 0x0010_0000;
    /// 9P2000.u set-user-id bit.
    pub const DMSETUID: u32 = 0x0008_0000;
    /// 9P2000.u set-group-id bit.
    pub const DMSETGID: u32 = 0x0004_0000;
    /// 9P2000.u sticky bit.
    pub const DMSETVTX: u32 = 0x0001_0000;

    /// A stat whose every field is "don't touch" (stat(5)): all ones in the
    /// numbers, empty strings; with the 9P2000.u fields when `unix`. Sent
    /// as is, a Twstat of it asks the server to commit the file to stable
    /// storage.
    pub fn dont_touch(unix: bool) -> Stat {
        Stat {
            ty: u16::MAX,
            dev: u32::MAX,
            qid: Qid {
                ty: u8::MAX,
                version: u32::MAX,
                path: u64::MAX,
            },
            mode: u32::MAX,
            atime: u32::MAX,
            mtime: u32::MAX,
            length: u64::MAX,
            name: NineStr::default(),
            uid: NineStr::default(),
            gid: NineStr::default(),
            muid: NineStr::default(),
            ext: unix.then(|| StatExt {
                extension: NineStr::default(),
                n_uid: u32::MAX,
                n_gid: u32::MAX,
                n_muid: u32::MAX,
            }),
        }
    }

    fn body_len(&self) -> usize {
        2 + 4
            + 13
            + 4
            + 4
            + 4
            + 8
            + self.name.encoded_len()
            + self.uid.encoded_len()
            + self.gid.encoded_len()
            + self.muid.encoded_len()
            + self.ext.encoded_len()
    }
}

impl Wire for Stat {
    fn encoded_len(&self) -> usize {
        2 + self.body_len()
    }
    fn encode(&self, buf: &mut BytesMut) {
        buf.put_u16_le(self.body_len() as u16);
        self.ty.encode(buf);
        self.dev.encode(buf);
        self.qid.encode(buf);
        self.mode.encode(buf);
        self.atime.encode(buf);
        self.mtime.encode(buf);
        self.length.encode(buf);
        self.name.encode(buf);
        self.uid.encode(buf);
        self.gid.encode(buf);
        self.muid.encode(buf);
        self.ext.encode(buf);
    }
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let n = u16::decode(r)? as usize;
        let mut s = Reader::new(r.take(n, "stat")?, r.dialect());
        let stat = Stat {
            ty: Wire::decode(&mut s)?,
            dev: Wire::decode(&mut s)?,
            qid: Wire::decode(&mut s)?,
            mode: Wire::decode(&mut s)?,
            atime: Wire::decode(&mut s)?,
            mtime: Wire::decode(&mut s)?,
            length: Wire::decode(&mut s)?,
            name: Wire::decode(&mut s)?,
            uid: Wire::decode(&mut s)?,
            gid: Wire::decode(&mut s)?,
            muid: Wire::decode(&mut s)?,
            ext: Wire::decode(&mut s)?,
        };
        s.finish()
            .map_err(|_| DecodeError::BadLength("stat size"))?;
        Ok(stat)
    }
}

/// Rstat and Twstat wrap the stat in one more `n[2]` count (stat(5) BUGS).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WrappedStat(pub Stat);

impl Wire for WrappedStat {
    fn encoded_len(&self) -> usize {
        2 + self.0.encoded_len()
    }
    fn encode(&self, buf: &mut BytesMut) {
        buf.put_u16_le(self.0.encoded_len() as u16);
        self.0.encode(buf);
    }
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let n = u16::decode(r)? as usize;
        let mut s = Reader::new(r.take(n, "stat")?, r.dialect());
        let stat = Stat::decode(&mut s)?;
        s.finish()
            .map_err(|_| DecodeError::BadLength("stat count"))?;
        Ok(WrappedStat(stat))
    }
}

wire_struct! {
    /// `fid`'s stat.
    Rstat { stat: WrappedStat }
}
wire_struct! {
    /// Change `fid`'s stat ("don't touch" fields are all ones / empty).
    Twstat { fid: Fid, stat: WrappedStat }
}

/// 9P2000 open modes (Topen/Tcreate `mode`).
pub mod omode {
    /// Read.
    pub const OREAD: u8 = 0;
    /// Write.
    pub const OWRITE: u8 = 1;
    /// Read and write.
    pub const ORDWR: u8 = 2;
    /// Execute.
    pub const OEXEC: u8 = 3;
    /// Truncate.
    pub const OTRUNC: u8 = 0x10;
    /// Remove on clunk.
    pub const ORCLOSE: u8 = 0x40;
}
