//! A request's bytes, as read from the device, decoded into a [`Request`]
//! whose [`Operation`] borrows names and data from them (no copy).
//!
//! Every length is checked before it is used: the header's `len` against
//! the bytes read, each struct against what is left, each name for its
//! NUL, each count and size against the bytes that carry it. Bad input is a
//! [`DecodeError`], never a panic. Extensions the kernel appends
//! (`total_extlen`; only sent for flags we do not ask for) are cut off
//! before the arguments are read.
//!
//! The layouts are those of protocol 7.23 and later (every kernel since
//! Linux 3.15); [`super::init`] refuses older ones, whose structs are
//! shorter.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;

use zerocopy::FromBytes;

use super::abi::{self, Opcode};
use super::types::{self, SetAttr, SetTime, Timestamp};

/// A request: who sent it, on which node, and what it asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub header: types::Request,
    /// The inode the operation is on (the parent for name operations, the
    /// new parent for LINK; 0 for INIT and INTERRUPT).
    pub nodeid: u64,
    /// The raw opcode, also for [`Operation::Unsupported`].
    pub opcode: u32,
    pub op: Operation<'a>,
}

/// INIT's argument, the same for the kernels' two forms of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitIn {
    pub major: u32,
    pub minor: u32,
    pub max_readahead: u32,
    /// `flags`, with `flags2` in the high half when FUSE_INIT_EXT is set.
    pub flags: u64,
}

/// Bytes borrowed from the request (a write's data, an xattr's value).
/// Its `Debug` shows only the length, so logs never carry file contents.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Data<'a>(pub &'a [u8]);

impl<'a> std::ops::Deref for Data<'a> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0
    }
}

impl fmt::Debug for Data<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Data({} bytes)", self.0.len())
    }
}

/// A byte range lock, as GETLK and SETLK carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lock {
    pub owner: u64,
    pub start: u64,
    pub end: u64,
    pub r#type: u32,
    pub pid: u32,
}

/// What a request asks: one variant per operation, with every argument of
/// the matching [`super::Filesystem`] method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation<'a> {
    Init(InitIn),
    Destroy,
    Lookup {
        name: &'a OsStr,
    },
    /// No reply.
    Forget {
        nlookup: u64,
    },
    /// No reply. `(nodeid, nlookup)` pairs.
    BatchForget(Vec<(u64, u64)>),
    Getattr {
        /// From an fstat: the kernel's FUSE_GETATTR_FH.
        fh: Option<u64>,
        flags: u32,
    },
    Setattr {
        /// Set by an ftruncate or futimens (FATTR_FH).
        fh: Option<u64>,
        set: SetAttr,
    },
    Readlink,
    Symlink {
        name: &'a OsStr,
        link: &'a OsStr,
    },
    Mknod {
        name: &'a OsStr,
        mode: u32,
        rdev: u32,
        umask: u32,
    },
    Mkdir {
        name: &'a OsStr,
        mode: u32,
        umask: u32,
    },
    Unlink {
        name: &'a OsStr,
    },
    Rmdir {
        name: &'a OsStr,
    },
    /// RENAME (`flags` 0) and RENAME2.
    Rename {
        name: &'a OsStr,
        new_parent: u64,
        new_name: &'a OsStr,
        flags: u32,
    },
    /// The request's `nodeid` is the new parent.
    Link {
        ino: u64,
        new_name: &'a OsStr,
    },
    Open {
        flags: u32,
    },
    Read {
        fh: u64,
        offset: u64,
        size: u32,
        flags: u32,
        lock_owner: Option<u64>,
    },
    Write {
        fh: u64,
        offset: u64,
        data: Data<'a>,
        write_flags: u32,
        flags: u32,
        lock_owner: Option<u64>,
    },
    Statfs,
    Release {
        fh: u64,
        flags: u32,
        release_flags: u32,
        lock_owner: u64,
        /// FUSE_RELEASE_FLUSH: flush before releasing.
        flush: bool,
    },
    Fsync {
        fh: u64,
        datasync: bool,
    },
    Setxattr {
        name: &'a OsStr,
        value: Data<'a>,
        flags: u32,
    },
    /// `size` 0 asks for the value's size only.
    Getxattr {
        name: &'a OsStr,
        size: u32,
    },
    Listxattr {
        size: u32,
    },
    Removexattr {
        name: &'a OsStr,
    },
    Flush {
        fh: u64,
        lock_owner: u64,
    },
    Opendir {
        flags: u32,
    },
    Readdir {
        fh: u64,
        offset: u64,
        size: u32,
    },
    Readdirplus {
        fh: u64,
        offset: u64,
        size: u32,
        lock_owner: Option<u64>,
    },
    Releasedir {
        fh: u64,
        flags: u32,
    },
    Fsyncdir {
        fh: u64,
        datasync: bool,
    },
    Getlk {
        fh: u64,
        lk: Lock,
    },
    /// SETLK, or SETLKW when `block`.
    Setlk {
        fh: u64,
        lk: Lock,
        block: bool,
        /// A flock(2) lock (only with FUSE_FLOCK_LOCKS, which we do not ask).
        flock: bool,
    },
    Access {
        mask: u32,
    },
    Create {
        name: &'a OsStr,
        mode: u32,
        flags: u32,
        umask: u32,
    },
    /// The request's own `unique` has FUSE_INT_REQ_BIT set; `unique` here
    /// is the target's.
    Interrupt {
        unique: u64,
    },
    /// The answer to a NOTIFY_RETRIEVE: the request's `unique` is the
    /// notification's `notify_unique`, `nodeid` its inode.
    NotifyReply {
        offset: u64,
        data: Data<'a>,
    },
    /// An opcode we do not serve: answer ENOSYS.
    Unsupported,
}

/// What is wrong with a request's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// An argument needs `need` bytes where `have` are left.
    Short { need: usize, have: usize },
    /// A name without its NUL.
    Unterminated,
    /// An empty name where one is required.
    EmptyName,
}

/// A request that cannot be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than a header: there is nothing to answer.
    NoHeader { read: usize },
    /// The header's `len` is not the number of bytes read.
    Length {
        unique: u64,
        opcode: u32,
        header_len: u32,
        read: usize,
    },
    /// The arguments do not fit their opcode's layout.
    Args {
        unique: u64,
        opcode: u32,
        problem: Problem,
    },
}

impl DecodeError {
    /// The request to answer (with EIO) so that its caller does not wait
    /// for ever; `None` without a header and for FORGET and BATCH_FORGET,
    /// which take no reply.
    pub fn reply_unique(&self) -> Option<u64> {
        let (unique, opcode) = match *self {
            DecodeError::NoHeader { .. } => return None,
            DecodeError::Length { unique, opcode, .. } => (unique, opcode),
            DecodeError::Args { unique, opcode, .. } => (unique, opcode),
        };
        match Opcode::from_u32(opcode) {
            Some(Opcode::Forget | Opcode::BatchForget) => None,
            _ => Some(unique),
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::NoHeader { read } => {
                write!(f, "FUSE request of {read} bytes has no header")
            }
            DecodeError::Length {
                unique,
                opcode,
                header_len,
                read,
            } => write!(
                f,
                "FUSE request {unique} (opcode {opcode}) says {header_len} bytes, {read} were read"
            ),
            DecodeError::Args {
                unique,
                opcode,
                problem,
            } => write!(
                f,
                "FUSE request {unique} (opcode {opcode}) has bad arguments: {problem:?}"
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// A request's caller and opcode from its header alone, for the session
/// to route it before the arguments are decoded (where it is served).
pub(crate) fn peek(buf: &[u8]) -> Result<(types::Request, u32), DecodeError> {
    let (h, _) = abi::fuse_in_header::read_from_prefix(buf)
        .map_err(|_| DecodeError::NoHeader { read: buf.len() })?;
    let caller = types::Request {
        unique: h.unique,
        uid: h.uid,
        gid: h.gid,
        pid: h.pid,
    };
    Ok((caller, h.opcode))
}

/// Decodes one request: `buf` is exactly what one read from the device
/// returned.
pub(crate) fn decode(buf: &[u8]) -> Result<Request<'_>, DecodeError> {
    let (h, rest) = abi::fuse_in_header::read_from_prefix(buf)
        .map_err(|_| DecodeError::NoHeader { read: buf.len() })?;
    if usize::try_from(h.len).ok() != Some(buf.len()) {
        return Err(DecodeError::Length {
            unique: h.unique,
            opcode: h.opcode,
            header_len: h.len,
            read: buf.len(),
        });
    }
    let args_error = |problem| DecodeError::Args {
        unique: h.unique,
        opcode: h.opcode,
        problem,
    };
    let ext = usize::from(h.total_extlen) * 8;
    let args_len = rest
        .len()
        .checked_sub(ext)
        .ok_or(args_error(Problem::Short {
            need: ext,
            have: rest.len(),
        }))?;
    let mut args = Args(&rest[..args_len]);
    let op = match Opcode::from_u32(h.opcode) {
        Some(opcode) => operation(opcode, &mut args).map_err(args_error)?,
        None => Operation::Unsupported,
    };
    Ok(Request {
        header: types::Request {
            unique: h.unique,
            uid: h.uid,
            gid: h.gid,
            pid: h.pid,
        },
        nodeid: h.nodeid,
        opcode: h.opcode,
        op,
    })
}

/// The arguments not yet read.
struct Args<'a>(&'a [u8]);

impl<'a> Args<'a> {
    /// The next fixed-size struct (copied: the buffer need not be aligned).
    fn get<T: FromBytes>(&mut self) -> Result<T, Problem> {
        let (v, rest) = T::read_from_prefix(self.0).map_err(|_| Problem::Short {
            need: std::mem::size_of::<T>(),
            have: self.0.len(),
        })?;
        self.0 = rest;
        Ok(v)
    }

    /// The next `n` bytes.
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], Problem> {
        let have = self.0.len();
        let (data, rest) = self
            .0
            .split_at_checked(n)
            .ok_or(Problem::Short { need: n, have })?;
        self.0 = rest;
        Ok(data)
    }

    /// The next NUL-terminated, non-empty name, without its NUL.
    fn name(&mut self) -> Result<&'a OsStr, Problem> {
        let end = self
            .0
            .iter()
            .position(|&b| b == 0)
            .ok_or(Problem::Unterminated)?;
        if end == 0 {
            return Err(Problem::EmptyName);
        }
        let name = &self.0[..end];
        self.0 = &self.0[end + 1..];
        Ok(OsStr::from_bytes(name))
    }
}

/// The arguments of `opcode`, read from `a`. No wildcard: a new opcode
/// must be placed.
fn operation<'a>(opcode: Opcode, a: &mut Args<'a>) -> Result<Operation<'a>, Problem> {
    use Operation as O;
    Ok(match opcode {
        Opcode::Init => O::Init(init(a)?),
        Opcode::Destroy => O::Destroy,
        Opcode::Lookup => O::Lookup { name: a.name()? },
        Opcode::Forget => O::Forget {
            nlookup: a.get::<abi::fuse_forget_in>()?.nlookup,
        },
        Opcode::BatchForget => O::BatchForget(batch_forget(a)?),
        Opcode::Getattr => {
            let g: abi::fuse_getattr_in = a.get()?;
            O::Getattr {
                fh: (g.getattr_flags & abi::FUSE_GETATTR_FH != 0).then_some(g.fh),
                flags: g.getattr_flags,
            }
        }
        Opcode::Setattr => setattr(a.get()?),
        Opcode::Readlink => O::Readlink,
        Opcode::Symlink => O::Symlink {
            name: a.name()?,
            link: a.name()?,
        },
        Opcode::Mknod => {
            let m: abi::fuse_mknod_in = a.get()?;
            O::Mknod {
                name: a.name()?,
                mode: m.mode,
                rdev: m.rdev,
                umask: m.umask,
            }
        }
        Opcode::Mkdir => {
            let m: abi::fuse_mkdir_in = a.get()?;
            O::Mkdir {
                name: a.name()?,
                mode: m.mode,
                umask: m.umask,
            }
        }
        Opcode::Unlink => O::Unlink { name: a.name()? },
        Opcode::Rmdir => O::Rmdir { name: a.name()? },
        Opcode::Rename => {
            let r: abi::fuse_rename_in = a.get()?;
            rename(a, r.newdir, 0)?
        }
        Opcode::Rename2 => {
            let r: abi::fuse_rename2_in = a.get()?;
            rename(a, r.newdir, r.flags)?
        }
        Opcode::Link => O::Link {
            ino: a.get::<abi::fuse_link_in>()?.oldnodeid,
            new_name: a.name()?,
        },
        Opcode::Open => O::Open {
            flags: a.get::<abi::fuse_open_in>()?.flags,
        },
        Opcode::Opendir => O::Opendir {
            flags: a.get::<abi::fuse_open_in>()?.flags,
        },
        Opcode::Read => {
            let r: abi::fuse_read_in = a.get()?;
            O::Read {
                fh: r.fh,
                offset: r.offset,
                size: r.size,
                flags: r.flags,
                lock_owner: read_lock_owner(&r),
            }
        }
        Opcode::Readdir => {
            let r: abi::fuse_read_in = a.get()?;
            O::Readdir {
                fh: r.fh,
                offset: r.offset,
                size: r.size,
            }
        }
        Opcode::Readdirplus => {
            let r: abi::fuse_read_in = a.get()?;
            O::Readdirplus {
                fh: r.fh,
                offset: r.offset,
                size: r.size,
                lock_owner: read_lock_owner(&r),
            }
        }
        Opcode::Write => write(a)?,
        Opcode::Statfs => O::Statfs,
        Opcode::Release => {
            let r: abi::fuse_release_in = a.get()?;
            O::Release {
                fh: r.fh,
                flags: r.flags,
                release_flags: r.release_flags,
                lock_owner: r.lock_owner,
                flush: r.release_flags & abi::FUSE_RELEASE_FLUSH != 0,
            }
        }
        Opcode::Releasedir => {
            let r: abi::fuse_release_in = a.get()?;
            O::Releasedir {
                fh: r.fh,
                flags: r.flags,
            }
        }
        Opcode::Fsync => {
            let f: abi::fuse_fsync_in = a.get()?;
            O::Fsync {
                fh: f.fh,
                datasync: f.fsync_flags & abi::FUSE_FSYNC_FDATASYNC != 0,
            }
        }
        Opcode::Fsyncdir => {
            let f: abi::fuse_fsync_in = a.get()?;
            O::Fsyncdir {
                fh: f.fh,
                datasync: f.fsync_flags & abi::FUSE_FSYNC_FDATASYNC != 0,
            }
        }
        Opcode::Setxattr => {
            // The 8-byte form: we never ask for FUSE_SETXATTR_EXT.
            let s: abi::fuse_setxattr_in_compat = a.get()?;
            O::Setxattr {
                name: a.name()?,
                value: Data(a.bytes(len(s.size))?),
                flags: s.flags,
            }
        }
        Opcode::Getxattr => {
            let g: abi::fuse_getxattr_in = a.get()?;
            O::Getxattr {
                name: a.name()?,
                size: g.size,
            }
        }
        Opcode::Listxattr => O::Listxattr {
            size: a.get::<abi::fuse_getxattr_in>()?.size,
        },
        Opcode::Removexattr => O::Removexattr { name: a.name()? },
        Opcode::Flush => {
            let f: abi::fuse_flush_in = a.get()?;
            O::Flush {
                fh: f.fh,
                lock_owner: f.lock_owner,
            }
        }
        Opcode::Getlk => {
            let l: abi::fuse_lk_in = a.get()?;
            O::Getlk {
                fh: l.fh,
                lk: lock(&l),
            }
        }
        Opcode::Setlk | Opcode::Setlkw => {
            let l: abi::fuse_lk_in = a.get()?;
            O::Setlk {
                fh: l.fh,
                lk: lock(&l),
                block: opcode == Opcode::Setlkw,
                flock: l.lk_flags & abi::FUSE_LK_FLOCK != 0,
            }
        }
        Opcode::Access => O::Access {
            mask: a.get::<abi::fuse_access_in>()?.mask,
        },
        Opcode::Create => {
            let c: abi::fuse_create_in = a.get()?;
            O::Create {
                name: a.name()?,
                mode: c.mode,
                flags: c.flags,
                umask: c.umask,
            }
        }
        Opcode::Interrupt => O::Interrupt {
            unique: a.get::<abi::fuse_interrupt_in>()?.unique,
        },
        Opcode::NotifyReply => {
            let r: abi::fuse_notify_retrieve_in = a.get()?;
            O::NotifyReply {
                offset: r.offset,
                data: Data(a.bytes(len(r.size))?),
            }
        }
        Opcode::Bmap
        | Opcode::Ioctl
        | Opcode::Poll
        | Opcode::Fallocate
        | Opcode::Lseek
        | Opcode::CopyFileRange
        | Opcode::Setupmapping
        | Opcode::Removemapping
        | Opcode::Syncfs
        | Opcode::Tmpfile
        | Opcode::Statx
        | Opcode::CopyFileRange64 => O::Unsupported,
    })
}

/// A wire size as a length (`usize` holds every `u32` on Linux targets;
/// on others a size that does not fit is as short as one that is missing).
fn len(size: u32) -> usize {
    usize::try_from(size).unwrap_or(usize::MAX)
}

/// INIT's argument in either form: the 64-byte one (7.36 on), or the
/// 16-byte one older kernels send.
fn init(a: &mut Args<'_>) -> Result<InitIn, Problem> {
    if a.0.len() >= std::mem::size_of::<abi::fuse_init_in>() {
        let i: abi::fuse_init_in = a.get()?;
        let mut flags = u64::from(i.flags);
        if flags & abi::FUSE_INIT_EXT != 0 {
            flags |= u64::from(i.flags2) << 32;
        }
        return Ok(InitIn {
            major: i.major,
            minor: i.minor,
            max_readahead: i.max_readahead,
            flags,
        });
    }
    let i: abi::fuse_init_in_compat = a.get()?;
    Ok(InitIn {
        major: i.major,
        minor: i.minor,
        max_readahead: i.max_readahead,
        flags: u64::from(i.flags),
    })
}

fn batch_forget(a: &mut Args<'_>) -> Result<Vec<(u64, u64)>, Problem> {
    let b: abi::fuse_batch_forget_in = a.get()?;
    let one = std::mem::size_of::<abi::fuse_forget_one>();
    // Checked against the bytes before anything is allocated.
    let need = len(b.count).saturating_mul(one);
    let items = a.bytes(need)?;
    let mut out = Vec::with_capacity(items.len() / one);
    let mut items = Args(items);
    while !items.0.is_empty() {
        let f: abi::fuse_forget_one = items.get()?;
        out.push((f.nodeid, f.nlookup));
    }
    Ok(out)
}

fn setattr<'a>(s: abi::fuse_setattr_in) -> Operation<'a> {
    let has = |bit: u32| s.valid & bit != 0;
    // The kernel's u64 seconds are a signed time: reinterpret, not convert.
    let at = |sec: u64, nsec: u32| Timestamp::new(sec as i64, nsec);
    let time = |now: u32, given: u32, sec: u64, nsec: u32| {
        if has(now) {
            Some(SetTime::Now)
        } else if has(given) {
            Some(SetTime::At(at(sec, nsec)))
        } else {
            None
        }
    };
    let set = SetAttr {
        mode: has(abi::FATTR_MODE).then_some(s.mode),
        uid: has(abi::FATTR_UID).then_some(s.uid),
        gid: has(abi::FATTR_GID).then_some(s.gid),
        size: has(abi::FATTR_SIZE).then_some(s.size),
        lock_owner: has(abi::FATTR_LOCKOWNER).then_some(s.lock_owner),
        atime: time(abi::FATTR_ATIME_NOW, abi::FATTR_ATIME, s.atime, s.atimensec),
        mtime: time(abi::FATTR_MTIME_NOW, abi::FATTR_MTIME, s.mtime, s.mtimensec),
        ctime: has(abi::FATTR_CTIME).then(|| at(s.ctime, s.ctimensec)),
    };
    Operation::Setattr {
        fh: has(abi::FATTR_FH).then_some(s.fh),
        set,
    }
}

fn rename<'a>(a: &mut Args<'a>, new_parent: u64, flags: u32) -> Result<Operation<'a>, Problem> {
    Ok(Operation::Rename {
        name: a.name()?,
        new_parent,
        new_name: a.name()?,
        flags,
    })
}

fn write<'a>(a: &mut Args<'a>) -> Result<Operation<'a>, Problem> {
    let w: abi::fuse_write_in = a.get()?;
    Ok(Operation::Write {
        fh: w.fh,
        offset: w.offset,
        data: Data(a.bytes(len(w.size))?),
        write_flags: w.write_flags,
        flags: w.flags,
        lock_owner: (w.write_flags & abi::FUSE_WRITE_LOCKOWNER != 0).then_some(w.lock_owner),
    })
}

fn read_lock_owner(r: &abi::fuse_read_in) -> Option<u64> {
    (r.read_flags & abi::FUSE_READ_LOCKOWNER != 0).then_some(r.lock_owner)
}

fn lock(l: &abi::fuse_lk_in) -> Lock {
    Lock {
        owner: l.owner,
        start: l.lk.start,
        end: l.lk.end,
        r#type: l.lk.r#type,
        pid: l.lk.pid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const UNIQUE: u64 = 0x1234;

    use super::super::test_bytes::B;

    /// A request: the 40-byte header (len, opcode, unique, nodeid, uid,
    /// gid, pid, total_extlen, padding), then `args`.
    fn msg(opcode: u32, nodeid: u64, args: B) -> Vec<u8> {
        let len = u32::try_from(40 + args.0.len()).unwrap();
        B::default()
            .u32(len)
            .u32(opcode)
            .u64(UNIQUE)
            .u64(nodeid)
            .u32(1000) // uid
            .u32(100) // gid
            .u32(4242) // pid
            .u16(0) // total_extlen
            .u16(0) // padding
            .raw(&args.0)
            .0
    }

    fn op(buf: &[u8]) -> Operation<'_> {
        decode(buf).unwrap().op
    }

    fn os(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    #[test]
    fn lookup_header_and_name() {
        let buf = msg(1, 1, B::default().raw(b"hello\0"));
        assert_eq!(buf.len(), 46);
        let r = decode(&buf).unwrap();
        assert_eq!(
            r.header,
            types::Request {
                unique: UNIQUE,
                uid: 1000,
                gid: 100,
                pid: 4242
            }
        );
        assert_eq!((r.nodeid, r.opcode), (1, 1));
        assert_eq!(r.op, Operation::Lookup { name: os("hello") });
    }

    #[test]
    fn init_old_form_has_no_flags2() {
        // major, minor, max_readahead, flags (FUSE_INIT_EXT clear)
        let buf = msg(
            26,
            0,
            B::default().u32(7).u32(31).u32(131072).u32(0x0000_3fff),
        );
        let want = InitIn {
            major: 7,
            minor: 31,
            max_readahead: 131072,
            flags: 0x3fff,
        };
        assert_eq!(op(&buf), Operation::Init(want));
    }

    #[test]
    fn init_new_form_joins_flags2_when_init_ext() {
        let args = |flags: u32| {
            B::default()
                .u32(7)
                .u32(45)
                .u32(131072)
                .u32(flags)
                .u32(0x5fd) // flags2
                .raw(&[0; 44]) // unused[11]
        };
        let with_ext = msg(26, 0, args(0x73ff_fffb));
        let Operation::Init(i) = op(&with_ext) else {
            panic!()
        };
        assert_eq!(i.flags, 0x0000_05fd_73ff_fffb);
        assert_ne!(i.flags & abi::FUSE_DIRECT_IO_ALLOW_MMAP, 0);
        // Without FUSE_INIT_EXT the kernel's flags2 is not to be read.
        let without = msg(26, 0, args(0x33ff_fffb));
        let Operation::Init(i) = op(&without) else {
            panic!()
        };
        assert_eq!(i.flags, 0x33ff_fffb);
    }

    #[test]
    fn write_borrows_its_data() {
        let args = B::default()
            .u64(5) // fh
            .u64(4096) // offset
            .u32(3) // size
            .u32(abi::FUSE_WRITE_LOCKOWNER)
            .u64(77) // lock_owner
            .u32(1) // flags (O_WRONLY)
            .u32(0) // padding
            .raw(b"abc");
        let buf = msg(16, 9, args);
        let r = decode(&buf).unwrap();
        assert_eq!(
            r.op,
            Operation::Write {
                fh: 5,
                offset: 4096,
                data: Data(b"abc"),
                write_flags: abi::FUSE_WRITE_LOCKOWNER,
                flags: 1,
                lock_owner: Some(77),
            }
        );
        let Operation::Write { data, .. } = r.op else {
            panic!()
        };
        assert_eq!(data.0.as_ptr(), buf[80..].as_ptr());
        assert_eq!(format!("{data:?}"), "Data(3 bytes)");
    }

    #[test]
    fn write_shorter_than_its_size_is_refused() {
        let args = B::default()
            .u64(5)
            .u64(0)
            .u32(4) // says 4 bytes
            .u32(0)
            .u64(0)
            .u32(0)
            .u32(0)
            .raw(b"abc"); // has 3
        let e = decode(&msg(16, 9, args)).unwrap_err();
        assert_eq!(
            e,
            DecodeError::Args {
                unique: UNIQUE,
                opcode: 16,
                problem: Problem::Short { need: 4, have: 3 }
            }
        );
        assert_eq!(e.reply_unique(), Some(UNIQUE));
    }

    #[test]
    fn setattr_keeps_now_apart_from_a_given_time() {
        let valid = abi::FATTR_MODE
            | abi::FATTR_FH
            | abi::FATTR_ATIME
            | abi::FATTR_ATIME_NOW
            | abi::FATTR_MTIME
            | abi::FATTR_CTIME;
        let args = B::default()
            .u32(valid)
            .u32(0) // padding
            .u64(3) // fh
            .u64(999) // size (not valid)
            .u64(0) // lock_owner
            .u64(10) // atime
            .u64(-5i64 as u64) // mtime, before the epoch
            .u64(30) // ctime
            .u32(1) // atimensec
            .u32(2) // mtimensec
            .u32(3) // ctimensec
            .u32(0o640) // mode
            .u32(0)
            .u32(1) // uid (not valid)
            .u32(2) // gid (not valid)
            .u32(0);
        let set = SetAttr {
            mode: Some(0o640),
            atime: Some(SetTime::Now),
            mtime: Some(SetTime::At(Timestamp::new(-5, 2))),
            ctime: Some(Timestamp::new(30, 3)),
            ..SetAttr::default()
        };
        assert_eq!(
            op(&msg(4, 2, args)),
            Operation::Setattr { fh: Some(3), set }
        );
    }

    #[test]
    fn names_in_pairs() {
        let symlink = msg(6, 1, B::default().raw(b"ln\0../target\0"));
        assert_eq!(
            op(&symlink),
            Operation::Symlink {
                name: os("ln"),
                link: os("../target")
            }
        );
        let rename2 = B::default().u64(8).u32(libc::RENAME_NOREPLACE).u32(0);
        let rename2 = msg(45, 1, rename2.raw(b"a\0b\0"));
        assert_eq!(
            op(&rename2),
            Operation::Rename {
                name: os("a"),
                new_parent: 8,
                new_name: os("b"),
                flags: libc::RENAME_NOREPLACE
            }
        );
        let rename = msg(12, 1, B::default().u64(8).raw(b"a\0b\0"));
        let Operation::Rename { flags: 0, .. } = op(&rename) else {
            panic!()
        };
        let link = msg(13, 4, B::default().u64(17).raw(b"hard\0"));
        assert_eq!(
            op(&link),
            Operation::Link {
                ino: 17,
                new_name: os("hard")
            }
        );
    }

    #[test]
    fn bad_names_are_refused() {
        let cases: [(&[u8], Problem); 3] = [
            (b"abc", Problem::Unterminated),
            (b"\0", Problem::EmptyName),
            (b"", Problem::Unterminated),
        ];
        for (name, problem) in cases {
            let e = decode(&msg(1, 1, B::default().raw(name))).unwrap_err();
            assert_eq!(
                e,
                DecodeError::Args {
                    unique: UNIQUE,
                    opcode: 1,
                    problem
                }
            );
        }
    }

    #[test]
    fn batch_forget_counts_are_checked() {
        let two = B::default()
            .u32(2) // count
            .u32(0)
            .u64(5)
            .u64(1) // node 5, 1 lookup
            .u64(6)
            .u64(3);
        let buf = msg(42, 0, two);
        assert_eq!(op(&buf), Operation::BatchForget(vec![(5, 1), (6, 3)]));
        let lying = B::default().u32(u32::MAX).u32(0).u64(5).u64(1);
        let e = decode(&msg(42, 0, lying)).unwrap_err();
        assert!(matches!(e, DecodeError::Args { .. }));
        assert_eq!(e.reply_unique(), None, "forgets take no reply");
    }

    #[test]
    fn file_handles_and_flags() {
        let getattr = msg(3, 2, B::default().u32(abi::FUSE_GETATTR_FH).u32(0).u64(11));
        assert_eq!(
            op(&getattr),
            Operation::Getattr {
                fh: Some(11),
                flags: 1
            }
        );
        let release = B::default()
            .u64(11)
            .u32(2)
            .u32(abi::FUSE_RELEASE_FLUSH)
            .u64(99);
        assert_eq!(
            op(&msg(18, 2, release)),
            Operation::Release {
                fh: 11,
                flags: 2,
                release_flags: 1,
                lock_owner: 99,
                flush: true
            }
        );
        let fsync = msg(20, 2, B::default().u64(11).u32(1).u32(0));
        assert_eq!(
            op(&fsync),
            Operation::Fsync {
                fh: 11,
                datasync: true
            }
        );
        let read = B::default()
            .u64(11)
            .u64(8192)
            .u32(4096)
            .u32(0) // no FUSE_READ_LOCKOWNER
            .u64(55)
            .u32(0)
            .u32(0);
        assert_eq!(
            op(&msg(15, 2, read)),
            Operation::Read {
                fh: 11,
                offset: 8192,
                size: 4096,
                flags: 0,
                lock_owner: None
            }
        );
    }

    #[test]
    fn locks() {
        let lk = |opcode| {
            let args = B::default()
                .u64(3) // fh
                .u64(0xabc) // owner
                .u64(0) // start
                .u64(u64::MAX) // end
                .u32(libc::F_WRLCK as u32)
                .u32(321) // pid
                .u32(0) // lk_flags
                .u32(0);
            msg(opcode, 2, args)
        };
        let lock = Lock {
            owner: 0xabc,
            start: 0,
            end: u64::MAX,
            r#type: libc::F_WRLCK as u32,
            pid: 321,
        };
        assert_eq!(op(&lk(31)), Operation::Getlk { fh: 3, lk: lock });
        let set = |block| Operation::Setlk {
            fh: 3,
            lk: lock,
            block,
            flock: false,
        };
        assert_eq!(op(&lk(32)), set(false));
        assert_eq!(op(&lk(33)), set(true));
    }

    #[test]
    fn xattrs() {
        let set = B::default().u32(3).u32(libc::XATTR_CREATE as u32);
        let set = msg(21, 2, set.raw(b"user.a\0xyz"));
        assert_eq!(
            op(&set),
            Operation::Setxattr {
                name: os("user.a"),
                value: Data(b"xyz"),
                flags: libc::XATTR_CREATE as u32
            }
        );
        let get = msg(22, 2, B::default().u32(0).u32(0).raw(b"user.a\0"));
        assert_eq!(
            op(&get),
            Operation::Getxattr {
                name: os("user.a"),
                size: 0
            }
        );
    }

    #[test]
    fn interrupt_and_notify_reply() {
        let int = msg(36, 0, B::default().u64(0x42));
        assert_eq!(op(&int), Operation::Interrupt { unique: 0x42 });
        let reply = B::default()
            .u64(0)
            .u64(4096) // offset
            .u32(2) // size
            .u32(0)
            .u64(0)
            .u64(0)
            .raw(b"hi");
        assert_eq!(
            op(&msg(41, 7, reply)),
            Operation::NotifyReply {
                offset: 4096,
                data: Data(b"hi")
            }
        );
    }

    #[test]
    fn other_opcodes_are_unsupported() {
        for opcode in [7, 19, 37, 39, 46, 52, 53, 54, 4096, u32::MAX] {
            let buf = msg(opcode, 1, B::default().raw(&[1, 2, 3]));
            let r = decode(&buf).unwrap();
            assert_eq!((r.opcode, r.op), (opcode, Operation::Unsupported));
        }
    }

    #[test]
    fn header_problems() {
        assert_eq!(decode(&[0; 39]), Err(DecodeError::NoHeader { read: 39 }));
        let mut buf = msg(1, 1, B::default().raw(b"x\0"));
        buf.push(0);
        assert_eq!(
            decode(&buf),
            Err(DecodeError::Length {
                unique: UNIQUE,
                opcode: 1,
                header_len: 42,
                read: 43
            })
        );
    }

    #[test]
    fn extensions_are_cut_off() {
        // CREATE with an 8-byte extension after the name.
        let args = B::default()
            .u32(libc::O_RDWR as u32)
            .u32(0o100644)
            .u32(0o022)
            .u32(0)
            .raw(b"f\0")
            .raw(&[9; 8]);
        let mut buf = msg(35, 1, args);
        buf[36] = 1; // total_extlen: one 8-byte unit
        assert_eq!(
            op(&buf),
            Operation::Create {
                name: os("f"),
                mode: 0o100644,
                flags: libc::O_RDWR as u32,
                umask: 0o022
            }
        );
        buf[36] = 200; // more than there is
        assert!(matches!(decode(&buf), Err(DecodeError::Args { .. })));
    }

    /// One well-formed request of each kind the decoder reads arguments for.
    fn valid_messages() -> Vec<Vec<u8>> {
        let read_in = || {
            B::default()
                .u64(1)
                .u64(0)
                .u32(4096)
                .u32(0)
                .u64(0)
                .u32(0)
                .u32(0)
        };
        let lk_in = || {
            B::default()
                .u64(1)
                .u64(2)
                .u64(0)
                .u64(9)
                .u32(1)
                .u32(5)
                .u32(0)
                .u32(0)
        };
        vec![
            msg(1, 1, B::default().raw(b"name\0")),
            msg(2, 5, B::default().u64(1)),
            msg(3, 5, B::default().u32(0).u32(0).u64(0)),
            msg(4, 5, B::default().raw(&[0; 88])),
            msg(6, 1, B::default().raw(b"l\0t\0")),
            msg(
                8,
                1,
                B::default().u32(0o10644).u32(0).u32(0).u32(0).raw(b"p\0"),
            ),
            msg(9, 1, B::default().u32(0o755).u32(0o22).raw(b"d\0")),
            msg(10, 1, B::default().raw(b"u\0")),
            msg(11, 1, B::default().raw(b"r\0")),
            msg(12, 1, B::default().u64(2).raw(b"a\0b\0")),
            msg(13, 1, B::default().u64(2).raw(b"h\0")),
            msg(14, 5, B::default().u32(0).u32(0)),
            msg(15, 5, read_in()),
            msg(16, 5, read_in().raw(&[7; 4096])),
            msg(18, 5, B::default().u64(1).u32(0).u32(0).u64(0)),
            msg(20, 5, B::default().u64(1).u32(0).u32(0)),
            msg(21, 5, B::default().u32(2).u32(0).raw(b"user.x\0ab")),
            msg(22, 5, B::default().u32(0).u32(0).raw(b"user.x\0")),
            msg(23, 5, B::default().u32(0).u32(0)),
            msg(24, 5, B::default().raw(b"user.x\0")),
            msg(25, 5, B::default().u64(1).u32(0).u32(0).u64(0)),
            msg(
                26,
                0,
                B::default().u32(7).u32(45).u32(0).u32(0).raw(&[0; 48]),
            ),
            msg(27, 5, B::default().u32(0).u32(0)),
            msg(28, 5, read_in()),
            msg(29, 5, B::default().u64(1).u32(0).u32(0).u64(0)),
            msg(30, 5, B::default().u64(1).u32(0).u32(0)),
            msg(31, 5, lk_in()),
            msg(32, 5, lk_in()),
            msg(33, 5, lk_in()),
            msg(34, 5, B::default().u32(4).u32(0)),
            msg(35, 1, B::default().u32(0).u32(0).u32(0).u32(0).raw(b"c\0")),
            msg(36, 0, B::default().u64(2)),
            msg(
                41,
                5,
                B::default()
                    .u64(0)
                    .u64(0)
                    .u32(1)
                    .u32(0)
                    .u64(0)
                    .u64(0)
                    .raw(b"z"),
            ),
            msg(42, 0, B::default().u32(1).u32(0).u64(5).u64(1)),
            msg(44, 5, read_in()),
            msg(45, 1, B::default().u64(2).u32(0).u32(0).raw(b"a\0b\0")),
        ]
    }

    #[test]
    fn valid_messages_decode() {
        for m in valid_messages() {
            let r = decode(&m).unwrap();
            assert_ne!(r.op, Operation::Unsupported, "opcode {}", r.opcode);
        }
    }

    /// `m` cut to `cut` bytes, with the header's `len` saying so.
    fn cut_short(m: &[u8], cut: usize) -> Vec<u8> {
        let mut c = m[..cut].to_vec();
        c[..4].copy_from_slice(&u32::try_from(cut).unwrap().to_ne_bytes());
        c
    }

    #[test]
    fn every_cut_of_a_valid_message_is_refused() {
        for m in valid_messages() {
            for cut in 40..m.len() {
                let init_old_form = m[4] == 26 && cut >= 56;
                let short = cut_short(&m, cut);
                let r = decode(&short);
                assert_eq!(r.is_ok(), init_old_form, "opcode {} cut to {cut}", m[4]);
                // Cut without fixing `len`: the length check catches it.
                assert!(matches!(decode(&m[..cut]), Err(DecodeError::Length { .. })));
            }
        }
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(buf in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode(&buf);
        }

        #[test]
        fn random_arguments_never_panic(
            opcode in 0u32..60,
            extlen in 0u16..4,
            args in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut buf = msg(opcode, 1, B::default().raw(&args));
            buf[36..38].copy_from_slice(&extlen.to_ne_bytes());
            let _ = decode(&buf);
        }

        #[test]
        fn valid_messages_cut_short_are_errors(which in any::<prop::sample::Index>(), at in any::<prop::sample::Index>()) {
            let all = valid_messages();
            let m = which.get(&all);
            let cut = 40 + at.index(m.len() - 40);
            let init_old_form = m[4] == 26 && cut >= 56;
            prop_assert_eq!(decode(&cut_short(m, cut)).is_ok(), init_old_form);
        }
    }
}
