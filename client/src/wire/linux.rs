//! 9P2000.L message bodies (the Linux dialect), plus the messages 9P2000.L
//! shares with plain 9P2000 (version, auth, attach, flush, walk, read, write,
//! clunk, remove). Layouts as in diod's protocol.md and Linux's
//! `net/9p/protocol.c`; field names as there.

use super::{Data, NineStr, Qid};
use crate::ids::{Fid, Tag};

wire_struct! {
    /// Negotiate msize and dialect; sent with `NOTAG`, resets the session.
    Tversion { msize: u32, version: NineStr }
}
wire_struct! {
    /// The server's msize (never above ours) and dialect, or "unknown".
    Rversion { msize: u32, version: NineStr }
}
wire_struct! {
    /// Open an authentication fid. `n_uname` exists in 9P2000.u/.L only.
    Tauth { afid: Fid, uname: NineStr, aname: NineStr, n_uname: Option<u32> }
}
wire_struct! {
    /// The qid of the authentication file.
    Rauth { aqid: Qid }
}
wire_struct! {
    /// Bind `fid` to the root of the tree `aname` for user `uname`/`n_uname`.
    Tattach { fid: Fid, afid: Fid, uname: NineStr, aname: NineStr, n_uname: Option<u32> }
}
wire_struct! {
    /// The root's qid.
    Rattach { qid: Qid }
}
wire_struct! {
    /// 9P2000.L error reply: a Linux errno.
    Rlerror { ecode: u32 }
}
wire_struct! {
    /// Cancel the request with tag `oldtag`.
    Tflush { oldtag: Tag }
}
wire_struct! {
    /// The flush is done: `oldtag` may be reused (see DESIGN.md flush rules).
    Rflush {}
}
wire_struct! {
    /// Walk `wname` from `fid`, binding the result to `newfid` (at most 16 names).
    Twalk { fid: Fid, newfid: Fid, wname: Vec<NineStr> }
}
wire_struct! {
    /// One qid per name walked; fewer than asked means the walk stopped early
    /// and `newfid` was not bound.
    Rwalk { wqid: Vec<Qid> }
}
wire_struct! {
    /// Read `count` bytes at `offset`.
    Tread { fid: Fid, offset: u64, count: u32 }
}
wire_struct! {
    /// The bytes read (at most the count asked).
    Rread { data: Data }
}
wire_struct! {
    /// Write `data` at `offset`.
    Twrite { fid: Fid, offset: u64, data: Data }
}
wire_struct! {
    /// Bytes written.
    Rwrite { count: u32 }
}
wire_struct! {
    /// Forget `fid`.
    Tclunk { fid: Fid }
}
wire_struct! {
    /// `fid` is forgotten.
    Rclunk {}
}
wire_struct! {
    /// Remove the file and forget `fid` (even if the removal fails).
    Tremove { fid: Fid }
}
wire_struct! {
    /// The file was removed.
    Rremove {}
}
wire_struct! {
    /// File system statistics.
    Tstatfs { fid: Fid }
}
wire_struct! {
    /// As Linux `struct statfs`.
    Rstatfs {
        ty: u32, bsize: u32, blocks: u64, bfree: u64, bavail: u64,
        files: u64, ffree: u64, fsid: u64, namelen: u32,
    }
}
wire_struct! {
    /// Open `fid` with Linux open(2) `flags`.
    Tlopen { fid: Fid, flags: u32 }
}
wire_struct! {
    /// The opened file's qid and the largest atomic I/O (0: msize - 24).
    Rlopen { qid: Qid, iounit: u32 }
}
wire_struct! {
    /// Create and open `name` in directory `fid`; `fid` becomes the new file.
    Tlcreate { fid: Fid, name: NineStr, flags: u32, mode: u32, gid: u32 }
}
wire_struct! {
    /// The created file's qid and iounit.
    Rlcreate { qid: Qid, iounit: u32 }
}
wire_struct! {
    /// Create symlink `name` -> `symtgt` in directory `fid`.
    Tsymlink { fid: Fid, name: NineStr, symtgt: NineStr, gid: u32 }
}
wire_struct! {
    /// The symlink's qid.
    Rsymlink { qid: Qid }
}
wire_struct! {
    /// Create a device node, FIFO or socket `name` in directory `dfid`.
    Tmknod { dfid: Fid, name: NineStr, mode: u32, major: u32, minor: u32, gid: u32 }
}
wire_struct! {
    /// The node's qid.
    Rmknod { qid: Qid }
}
wire_struct! {
    /// Move `fid` to `name` in directory `dfid`.
    Trename { fid: Fid, dfid: Fid, name: NineStr }
}
wire_struct! {
    /// Renamed.
    Rrename {}
}
wire_struct! {
    /// Read a symlink's target.
    Treadlink { fid: Fid }
}
wire_struct! {
    /// The target.
    Rreadlink { target: NineStr }
}
wire_struct! {
    /// Attributes; `request_mask` is a set of `P9_GETATTR_*` bits.
    Tgetattr { fid: Fid, request_mask: u64 }
}
wire_struct! {
    /// Attributes; `valid` says which fields the server filled.
    Rgetattr {
        valid: u64, qid: Qid, mode: u32, uid: u32, gid: u32, nlink: u64,
        rdev: u64, size: u64, blksize: u64, blocks: u64,
        atime_sec: u64, atime_nsec: u64, mtime_sec: u64, mtime_nsec: u64,
        ctime_sec: u64, ctime_nsec: u64, btime_sec: u64, btime_nsec: u64,
        gen: u64, data_version: u64,
    }
}
wire_struct! {
    /// Change attributes; `valid` is a set of `P9_SETATTR_*` bits.
    Tsetattr {
        fid: Fid, valid: u32, mode: u32, uid: u32, gid: u32, size: u64,
        atime_sec: u64, atime_nsec: u64, mtime_sec: u64, mtime_nsec: u64,
    }
}
wire_struct! {
    /// Changed.
    Rsetattr {}
}
wire_struct! {
    /// Bind `newfid` to the extended attribute `name` of `fid` (empty name:
    /// the list of names), to be read with Tread.
    Txattrwalk { fid: Fid, newfid: Fid, name: NineStr }
}
wire_struct! {
    /// The attribute's (or list's) size.
    Rxattrwalk { size: u64 }
}
wire_struct! {
    /// Turn `fid` into an attribute being written with Twrite; it is set at clunk.
    Txattrcreate { fid: Fid, name: NineStr, attr_size: u64, flags: u32 }
}
wire_struct! {
    /// Ready for the attribute's value.
    Rxattrcreate {}
}
wire_struct! {
    /// Read directory entries from `offset` (0, or an entry's offset).
    Treaddir { fid: Fid, offset: u64, count: u32 }
}
wire_struct! {
    /// Packed entries: `qid[13] offset[8] type[1] name[s]` each.
    Rreaddir { data: Data }
}
wire_struct! {
    /// Flush the file to stable storage (`datasync` != 0: data only).
    Tfsync { fid: Fid, datasync: u32 }
}
wire_struct! {
    /// Synced.
    Rfsync {}
}
wire_struct! {
    /// Take or release a POSIX byte-range lock.
    Tlock { fid: Fid, ty: u8, flags: u32, start: u64, length: u64, proc_id: u32, client_id: NineStr }
}
wire_struct! {
    /// `P9_LOCK_SUCCESS`, `_BLOCKED`, `_ERROR` or `_GRACE`.
    Rlock { status: u8 }
}
wire_struct! {
    /// Test for a conflicting lock.
    Tgetlock { fid: Fid, ty: u8, start: u64, length: u64, proc_id: u32, client_id: NineStr }
}
wire_struct! {
    /// The conflicting lock, or `ty` = unlocked.
    Rgetlock { ty: u8, start: u64, length: u64, proc_id: u32, client_id: NineStr }
}
wire_struct! {
    /// Hard link `fid` as `name` in directory `dfid`.
    Tlink { dfid: Fid, fid: Fid, name: NineStr }
}
wire_struct! {
    /// Linked.
    Rlink {}
}
wire_struct! {
    /// Create directory `name` in `dfid`.
    Tmkdir { dfid: Fid, name: NineStr, mode: u32, gid: u32 }
}
wire_struct! {
    /// The directory's qid.
    Rmkdir { qid: Qid }
}
wire_struct! {
    /// Rename `oldname` in `olddirfid` to `newname` in `newdirfid`.
    Trenameat { olddirfid: Fid, oldname: NineStr, newdirfid: Fid, newname: NineStr }
}
wire_struct! {
    /// Renamed.
    Rrenameat {}
}
wire_struct! {
    /// Remove `name` from `dirfd` (`flags`: `AT_REMOVEDIR` for a directory).
    Tunlinkat { dirfd: Fid, name: NineStr, flags: u32 }
}
wire_struct! {
    /// Removed.
    Runlinkat {}
}

/// `Tgetattr` request-mask and `Rgetattr` valid bits.
pub mod getattr {
    /// mode
    pub const MODE: u64 = 0x0001;
    /// nlink
    pub const NLINK: u64 = 0x0002;
    /// uid
    pub const UID: u64 = 0x0004;
    /// gid
    pub const GID: u64 = 0x0008;
    /// rdev
    pub const RDEV: u64 = 0x0010;
    /// atime
    pub const ATIME: u64 = 0x0020;
    /// mtime
    pub const MTIME: u64 = 0x0040;
    /// ctime
    pub const CTIME: u64 = 0x0080;
    /// qid.path as inode number
    pub const INO: u64 = 0x0100;
    /// size
    pub const SIZE: u64 = 0x0200;
    /// blocks
    pub const BLOCKS: u64 = 0x0400;
    /// btime
    pub const BTIME: u64 = 0x0800;
    /// gen
    pub const GEN: u64 = 0x1000;
    /// data_version
    pub const DATA_VERSION: u64 = 0x2000;
    /// Everything stat(2) returns.
    pub const BASIC: u64 = 0x07ff;
    /// Everything.
    pub const ALL: u64 = 0x3fff;
}

/// `Tsetattr` valid bits.
pub mod setattr {
    /// mode
    pub const MODE: u32 = 0x0001;
    /// uid
    pub const UID: u32 = 0x0002;
    /// gid
    pub const GID: u32 = 0x0004;
    /// size (truncate)
    pub const SIZE: u32 = 0x0008;
    /// atime
    pub const ATIME: u32 = 0x0010;
    /// mtime
    pub const MTIME: u32 = 0x0020;
    /// ctime
    pub const CTIME: u32 = 0x0040;
    /// atime from the fields (else: now)
    pub const ATIME_SET: u32 = 0x0080;
    /// mtime from the fields (else: now)
    pub const MTIME_SET: u32 = 0x0100;
}

/// `Tlock`/`Rgetlock` types and `Rlock` statuses.
pub mod lock {
    /// Shared (read) lock.
    pub const RDLCK: u8 = 0;
    /// Exclusive (write) lock.
    pub const WRLCK: u8 = 1;
    /// Unlock / no conflicting lock.
    pub const UNLCK: u8 = 2;
    /// Tlock flag: block until granted.
    pub const FLAGS_BLOCK: u32 = 1;
    /// Granted.
    pub const SUCCESS: u8 = 0;
    /// Would block.
    pub const BLOCKED: u8 = 1;
    /// Failed.
    pub const ERROR: u8 = 2;
    /// Server in grace period: retry.
    pub const GRACE: u8 = 3;
}
