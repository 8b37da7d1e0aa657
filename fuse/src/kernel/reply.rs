//! Replies and notifications, encoded for one vectored write: a small
//! owned head (the out header with its `len`, then the fixed struct) and a
//! payload after it that is never copied (a read's data, a store's pages).
//!
//! - [`Reply`]: one message; constructors per reply type.
//! - [`DirPacker`], [`DirPlusPacker`]: READDIR and READDIRPLUS records,
//!   packed until the kernel's buffer is full.
//! - [`notify`]: notifications (`unique` 0, the code in `error`).

use std::ffi::OsStr;
use std::fmt;
use std::io::IoSlice;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

use bytes::Bytes;
use zerocopy::{Immutable, IntoBytes};

use super::abi;
use super::{
    DirectoryEntry, DirectoryEntryPlus, FileAttr, ReplyAttr, ReplyCreated, ReplyEntry, ReplyLock,
    ReplyOpen, ReplyStatFs, ReplyWrite, ReplyXAttr,
};

const OUT_HEADER: usize = std::mem::size_of::<abi::fuse_out_header>();

/// The most a message may hold: its `len` is a u32.
const MAX_MESSAGE: usize = u32::MAX as usize;

/// One message to the kernel: write [`Reply::iovecs`] in one `writev`.
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    /// The out header (with `len` filled in) and the fixed arguments.
    head: Vec<u8>,
    /// Bytes after the head (empty: none), sent from where they are.
    payload: Bytes,
}

/// INIT's reply as we fill it in (see [`super::init`]); `flags` holds
/// both halves, split into `flags` and `flags2` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InitOut {
    pub major: u32,
    pub minor: u32,
    pub max_readahead: u32,
    pub flags: u64,
    pub max_background: u16,
    pub congestion_threshold: u16,
    pub max_write: u32,
    pub time_gran: u32,
    pub max_pages: u16,
    pub request_timeout: u16,
}

impl Reply {
    /// The head and the payload, for `writev`.
    pub fn iovecs(&self) -> [IoSlice<'_>; 2] {
        [IoSlice::new(&self.head), IoSlice::new(&self.payload)]
    }

    /// The head (the out header, then the fixed arguments) and the
    /// payload, apart: for a transport that puts the header elsewhere.
    pub fn parts(&self) -> (&[u8], &[u8]) {
        (&self.head, &self.payload)
    }

    #[cfg_attr(not(test), allow(dead_code, reason = "for tests and logs"))]
    /// Bytes in the message (its header's `len`).
    pub fn len(&self) -> usize {
        self.head.len() + self.payload.len()
    }

    #[allow(dead_code, reason = "the pair of `len`")]
    /// Never: a message has at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    #[cfg_attr(not(test), allow(dead_code, reason = "for tests and logs"))]
    /// The message in one buffer (a copy: for tests and for transports
    /// that cannot write two parts).
    pub fn to_vec(&self) -> Vec<u8> {
        [&self.head[..], &self.payload[..]].concat()
    }

    /// A failed request. `errno` is positive; one the kernel would refuse
    /// (0, negative, 512 or more) is sent as EIO so the caller still gets
    /// an answer.
    pub fn error(unique: u64, errno: i32) -> Reply {
        let errno = if (1..512).contains(&errno) {
            errno
        } else {
            libc::EIO
        };
        Reply::message(unique, -errno, &[], Bytes::new())
    }

    /// Success with no arguments (unlink, setxattr, fsync, ...).
    pub fn ok(unique: u64) -> Reply {
        Reply::message(unique, 0, &[], Bytes::new())
    }

    /// A name found (LOOKUP, MKNOD, MKDIR, SYMLINK, LINK). `attr.ino` 0
    /// with a TTL caches the name's absence.
    pub fn entry(unique: u64, e: &ReplyEntry) -> Reply {
        let out = entry_out(e.attr.ino, e.generation, e.ttl, e.ttl, &e.attr);
        Reply::fixed(unique, &out)
    }

    pub fn attr(unique: u64, a: &ReplyAttr) -> Reply {
        let (secs, nsecs) = ttl(a.ttl);
        let out = abi::fuse_attr_out {
            attr_valid: secs,
            attr_valid_nsec: nsecs,
            dummy: 0,
            attr: attr(&a.attr),
        };
        Reply::fixed(unique, &out)
    }

    /// Bytes (READ, READLINK, a listing of xattrs), not copied.
    pub fn data(unique: u64, data: Bytes) -> Reply {
        Reply::message(unique, 0, &[], data)
    }

    /// OPEN and OPENDIR.
    pub fn open(unique: u64, o: &ReplyOpen) -> Reply {
        Reply::fixed(unique, &open_out(o.fh, o.flags))
    }

    pub fn write(unique: u64, w: &ReplyWrite) -> Reply {
        let out = abi::fuse_write_out {
            size: w.written,
            padding: 0,
        };
        Reply::fixed(unique, &out)
    }

    pub fn statfs(unique: u64, s: &ReplyStatFs) -> Reply {
        let st = abi::fuse_kstatfs {
            blocks: s.blocks,
            bfree: s.bfree,
            bavail: s.bavail,
            files: s.files,
            ffree: s.ffree,
            bsize: s.bsize,
            namelen: s.namelen,
            frsize: s.frsize,
            padding: 0,
            spare: [0; 6],
        };
        Reply::fixed(unique, &abi::fuse_statfs_out { st })
    }

    /// GETXATTR and LISTXATTR: the size asked for, or the bytes.
    pub fn xattr(unique: u64, x: &ReplyXAttr) -> Reply {
        match x {
            ReplyXAttr::Size(size) => {
                let out = abi::fuse_getxattr_out {
                    size: *size,
                    padding: 0,
                };
                Reply::fixed(unique, &out)
            }
            ReplyXAttr::Data(data) => Reply::data(unique, data.clone()),
        }
    }

    /// GETLK.
    pub fn lock(unique: u64, l: &ReplyLock) -> Reply {
        let lk = abi::fuse_file_lock {
            start: l.start,
            end: l.end,
            r#type: l.r#type,
            pid: l.pid,
        };
        Reply::fixed(unique, &abi::fuse_lk_out { lk })
    }

    /// CREATE: the entry, then the open file.
    pub fn created(unique: u64, c: &ReplyCreated) -> Reply {
        let entry = entry_out(c.attr.ino, c.generation, c.ttl, c.ttl, &c.attr);
        let open = open_out(c.fh, c.flags);
        Reply::message(
            unique,
            0,
            &[entry.as_bytes(), open.as_bytes()],
            Bytes::new(),
        )
    }

    /// INIT accepted: the whole 64-byte struct (7.23 on; older kernels are
    /// refused by [`super::init`]).
    pub fn init(unique: u64, i: &InitOut) -> Reply {
        let out = abi::fuse_init_out {
            major: i.major,
            minor: i.minor,
            max_readahead: i.max_readahead,
            flags: i.flags as u32,
            max_background: i.max_background,
            congestion_threshold: i.congestion_threshold,
            max_write: i.max_write,
            time_gran: i.time_gran,
            max_pages: i.max_pages,
            map_alignment: 0,
            flags2: (i.flags >> 32) as u32,
            max_stack_depth: 0,
            request_timeout: i.request_timeout,
            unused: [0; 11],
        };
        Reply::fixed(unique, &out)
    }

    /// INIT from a kernel of another major version: only our version, in
    /// the 8 bytes every kernel reads; it then sends INIT again.
    pub fn init_version(unique: u64, major: u32, minor: u32) -> Reply {
        let out = abi::fuse_init_out {
            major,
            minor,
            ..Default::default()
        };
        let short = &out.as_bytes()[..abi::FUSE_COMPAT_INIT_OUT_SIZE];
        Reply::message(unique, 0, &[short], Bytes::new())
    }

    /// A reply whose argument is one struct.
    fn fixed<T: IntoBytes + Immutable>(unique: u64, out: &T) -> Reply {
        Reply::message(unique, 0, &[out.as_bytes()], Bytes::new())
    }

    /// The out header, then `parts` copied into the head, then `payload`
    /// (cut to what a u32 `len` can say, which no real reply reaches).
    fn message(unique: u64, error: i32, parts: &[&[u8]], mut payload: Bytes) -> Reply {
        let fixed: usize = parts.iter().map(|p| p.len()).sum();
        let room = MAX_MESSAGE.saturating_sub(OUT_HEADER + fixed);
        payload.truncate(room);
        let len = OUT_HEADER + fixed + payload.len();
        let mut head = Vec::with_capacity(OUT_HEADER + fixed);
        head.extend_from_slice(out_header(len, error, unique).as_bytes());
        for p in parts {
            head.extend_from_slice(p);
        }
        Reply { head, payload }
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reply")
            .field("head", &self.head.len())
            .field("payload", &self.payload.len())
            .finish()
    }
}

fn out_header(len: usize, error: i32, unique: u64) -> abi::fuse_out_header {
    abi::fuse_out_header {
        len: u32::try_from(len).unwrap_or(u32::MAX),
        error,
        unique,
    }
}

/// A TTL as the kernel takes it: seconds and nanoseconds.
fn ttl(d: Duration) -> (u64, u32) {
    (d.as_secs(), d.subsec_nanos())
}

/// Attributes on the wire: the mode joins the kind's `S_IFMT` bits and the
/// permissions; times are signed seconds carried in u64.
fn attr(a: &FileAttr) -> abi::fuse_attr {
    abi::fuse_attr {
        ino: a.ino,
        size: a.size,
        blocks: a.blocks,
        atime: a.atime.sec as u64,
        mtime: a.mtime.sec as u64,
        ctime: a.ctime.sec as u64,
        atimensec: a.atime.nsec,
        mtimensec: a.mtime.nsec,
        ctimensec: a.ctime.nsec,
        mode: a.kind.mode() | u32::from(a.perm),
        nlink: a.nlink,
        uid: a.uid,
        gid: a.gid,
        rdev: a.rdev,
        blksize: a.blksize,
        flags: 0,
    }
}

fn entry_out(
    nodeid: u64,
    generation: u64,
    entry_ttl: Duration,
    attr_ttl: Duration,
    a: &FileAttr,
) -> abi::fuse_entry_out {
    let (entry_valid, entry_valid_nsec) = ttl(entry_ttl);
    let (attr_valid, attr_valid_nsec) = ttl(attr_ttl);
    abi::fuse_entry_out {
        nodeid,
        generation,
        entry_valid,
        attr_valid,
        entry_valid_nsec,
        attr_valid_nsec,
        attr: attr(a),
    }
}

fn open_out(fh: u64, flags: u32) -> abi::fuse_open_out {
    abi::fuse_open_out {
        fh,
        open_flags: flags,
        backing_id: 0,
    }
}

/// What [`DirPacker::push`] and [`DirPlusPacker::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Push {
    /// In the listing. `lookup`: the kernel takes a lookup count for it
    /// (READDIRPLUS with a non-zero inode, other than "." and "..", whose
    /// inode the kernel ignores).
    Added { lookup: bool },
    /// It would not fit in the kernel's buffer: not added; the listing is
    /// done, and the next READDIR starts from the last entry added.
    Full,
    /// Not added: the kernel would refuse its name (empty, longer than
    /// FUSE_NAME_MAX, or holding '/' or NUL) and with it the whole listing
    /// (EIO). Go on with the next entry.
    Skipped,
}

/// READDIR's reply: records packed until the kernel's `size` is reached.
#[derive(Debug)]
pub struct DirPacker(Packer);

/// READDIRPLUS's reply: each record a lookup's answer and a dirent.
#[derive(Debug)]
pub struct DirPlusPacker(Packer);

impl DirPacker {
    /// A listing for a READDIR that asked for `size` bytes.
    pub fn new(size: u32) -> Self {
        DirPacker(Packer::new(size))
    }

    pub fn push(&mut self, e: &DirectoryEntry) -> Push {
        let dirent = dirent(e.inode, e.offset, e.kind.dirent_type(), &e.name);
        self.0.push(&[], dirent, e.name.as_bytes(), false)
    }

    /// Whether no entry was added (the end of the directory, if the
    /// stream is done).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn finish(self, unique: u64) -> Reply {
        self.0.finish(unique)
    }
}

impl DirPlusPacker {
    /// A listing for a READDIRPLUS that asked for `size` bytes.
    pub fn new(size: u32) -> Self {
        DirPlusPacker(Packer::new(size))
    }

    pub fn push(&mut self, e: &DirectoryEntryPlus) -> Push {
        let out = entry_out(e.attr.ino, e.generation, e.entry_ttl, e.attr_ttl, &e.attr);
        let dirent = dirent(e.inode, e.offset, e.kind.dirent_type(), &e.name);
        let name = e.name.as_bytes();
        let lookup = e.attr.ino != 0 && name != b"." && name != b"..";
        self.0.push(out.as_bytes(), dirent, name, lookup)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn finish(self, unique: u64) -> Reply {
        self.0.finish(unique)
    }
}

fn dirent(ino: u64, offset: i64, d_type: u32, name: &OsStr) -> abi::fuse_dirent {
    abi::fuse_dirent {
        ino,
        off: offset as u64,
        namelen: u32::try_from(name.len()).unwrap_or(u32::MAX),
        r#type: d_type,
    }
}

/// The records after a placeholder out header, within `size` bytes.
#[derive(Debug)]
struct Packer {
    buf: Vec<u8>,
    size: usize,
}

impl Packer {
    fn new(size: u32) -> Self {
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        // Grown as entries come: a listing is usually far below `size`.
        let mut buf = Vec::with_capacity(OUT_HEADER + size.min(4096));
        buf.resize(OUT_HEADER, 0);
        Packer { buf, size }
    }

    fn is_empty(&self) -> bool {
        self.buf.len() == OUT_HEADER
    }

    fn push(&mut self, before: &[u8], d: abi::fuse_dirent, name: &[u8], lookup: bool) -> Push {
        let refused = |b: &u8| *b == b'/' || *b == 0;
        if name.is_empty() || name.len() > abi::FUSE_NAME_MAX || name.iter().any(refused) {
            return Push::Skipped;
        }
        let record = abi::dirent_align(before.len() + d.as_bytes().len() + name.len());
        let used = self.buf.len() - OUT_HEADER;
        if used + record > self.size {
            return Push::Full;
        }
        let start = self.buf.len();
        self.buf.extend_from_slice(before);
        self.buf.extend_from_slice(d.as_bytes());
        self.buf.extend_from_slice(name);
        self.buf.resize(start + record, 0);
        Push::Added { lookup }
    }

    fn finish(mut self, unique: u64) -> Reply {
        let h = out_header(self.buf.len(), 0, unique);
        self.buf[..OUT_HEADER].copy_from_slice(h.as_bytes());
        Reply {
            head: self.buf,
            payload: Bytes::new(),
        }
    }
}

/// Notifications: messages the kernel did not ask for, with `unique` 0 and
/// the notification's code where a reply has its error. The kernel answers
/// a bad one with an error on the write; only RETRIEVE is answered later,
/// by a NOTIFY_REPLY request.
#[allow(
    dead_code,
    reason = "the notifications the mount does not send yet are tested here"
)]
pub mod notify {
    use super::*;

    /// Put `data` in `nodeid`'s page cache at `offset` (the data is sent
    /// from where it is, not copied).
    pub fn store(nodeid: u64, offset: u64, mut data: Bytes) -> Reply {
        let fixed = OUT_HEADER + std::mem::size_of::<abi::fuse_notify_store_out>();
        data.truncate(MAX_MESSAGE - fixed);
        let out = abi::fuse_notify_store_out {
            nodeid,
            offset,
            size: u32::try_from(data.len()).unwrap_or(u32::MAX),
            padding: 0,
        };
        Reply::message(0, abi::FUSE_NOTIFY_STORE, &[out.as_bytes()], data)
    }

    /// Ask for up to `size` bytes the kernel caches for `nodeid` from
    /// `offset`; they come back in a NOTIFY_REPLY whose `unique` is
    /// `notify_unique`.
    pub fn retrieve(notify_unique: u64, nodeid: u64, offset: u64, size: u32) -> Reply {
        let out = abi::fuse_notify_retrieve_out {
            notify_unique,
            nodeid,
            offset,
            size,
            padding: 0,
        };
        Reply::message(
            0,
            abi::FUSE_NOTIFY_RETRIEVE,
            &[out.as_bytes()],
            Bytes::new(),
        )
    }

    /// Drop `ino`'s attributes and its cached pages in `off..off+len`
    /// (`len` 0 or less: to the end; `off` negative: attributes only).
    pub fn inval_inode(ino: u64, off: i64, len: i64) -> Reply {
        let out = abi::fuse_notify_inval_inode_out { ino, off, len };
        Reply::message(
            0,
            abi::FUSE_NOTIFY_INVAL_INODE,
            &[out.as_bytes()],
            Bytes::new(),
        )
    }

    /// Drop the cached name `name` in `parent`.
    pub fn inval_entry(parent: u64, name: &OsStr) -> Reply {
        let out = abi::fuse_notify_inval_entry_out {
            parent,
            namelen: namelen(name),
            flags: 0,
        };
        let parts: [&[u8]; 3] = [out.as_bytes(), name.as_bytes(), &[0]];
        Reply::message(0, abi::FUSE_NOTIFY_INVAL_ENTRY, &parts, Bytes::new())
    }

    /// `name` in `parent` is gone: drop it, and `child`'s dentry if the
    /// name led there (the kernel then also tells watchers).
    pub fn delete(parent: u64, child: u64, name: &OsStr) -> Reply {
        let out = abi::fuse_notify_delete_out {
            parent,
            child,
            namelen: namelen(name),
            padding: 0,
        };
        let parts: [&[u8]; 3] = [out.as_bytes(), name.as_bytes(), &[0]];
        Reply::message(0, abi::FUSE_NOTIFY_DELETE, &parts, Bytes::new())
    }

    fn namelen(name: &OsStr) -> u32 {
        u32::try_from(name.len()).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::*;
    use crate::kernel::types::{FileType, Timestamp};

    const UNIQUE: u64 = 0x1234;

    use super::super::test_bytes::B;

    impl B {
        /// The out header: len, error, unique.
        fn header(len: usize, error: i32, unique: u64) -> Self {
            B::default()
                .u32(u32::try_from(len).unwrap())
                .i32(error)
                .u64(unique)
        }
        /// `fuse_attr` of [`file_attr`], field by field.
        fn attr(self) -> Self {
            self.u64(42) // ino
                .u64(5000) // size
                .u64(16) // blocks
                .u64(100) // atime
                .u64(-1i64 as u64) // mtime, before the epoch
                .u64(300) // ctime
                .u32(1) // atimensec
                .u32(2) // mtimensec
                .u32(3) // ctimensec
                .u32(0o100_644) // mode: S_IFREG | perm
                .u32(1) // nlink
                .u32(1000) // uid
                .u32(100) // gid
                .u32(0) // rdev
                .u32(4096) // blksize
                .u32(0) // flags
        }
        /// `fuse_entry_out` for node 42, generation 7, TTL 1.5 s.
        fn entry(self) -> Self {
            self.u64(42) // nodeid
                .u64(7) // generation
                .u64(1) // entry_valid
                .u64(1) // attr_valid
                .u32(500_000_000) // entry_valid_nsec
                .u32(500_000_000) // attr_valid_nsec
                .attr()
        }
    }

    fn file_attr() -> FileAttr {
        FileAttr {
            ino: 42,
            size: 5000,
            blocks: 16,
            atime: Timestamp::new(100, 1),
            mtime: Timestamp::new(-1, 2),
            ctime: Timestamp::new(300, 3),
            kind: FileType::RegularFile,
            perm: 0o644,
            nlink: 1,
            uid: 1000,
            gid: 100,
            rdev: 0,
            blksize: 4096,
        }
    }

    const TTL: Duration = Duration::from_millis(1500);

    #[test]
    fn error_and_ok() {
        let e = Reply::error(UNIQUE, libc::ENOENT);
        assert_eq!(e.to_vec(), B::header(16, -libc::ENOENT, UNIQUE).0);
        assert_eq!(e.len(), 16);
        for bad in [0, -5, 512, i32::MIN] {
            let e = Reply::error(UNIQUE, bad).to_vec();
            assert_eq!(e, B::header(16, -libc::EIO, UNIQUE).0, "errno {bad}");
        }
        assert_eq!(Reply::ok(9).to_vec(), B::header(16, 0, 9).0);
    }

    #[test]
    fn entry_and_attr() {
        let e = ReplyEntry {
            ttl: TTL,
            attr: file_attr(),
            generation: 7,
        };
        let want = B::header(16 + 128, 0, UNIQUE).entry();
        assert_eq!(Reply::entry(UNIQUE, &e).to_vec(), want.0);
        let a = ReplyAttr {
            ttl: TTL,
            attr: file_attr(),
        };
        let want = B::header(16 + 104, 0, UNIQUE)
            .u64(1) // attr_valid
            .u32(500_000_000) // attr_valid_nsec
            .u32(0) // dummy
            .attr();
        assert_eq!(Reply::attr(UNIQUE, &a).to_vec(), want.0);
    }

    #[test]
    fn data_is_not_copied() {
        let data = Bytes::from(vec![7u8; 1000]);
        let r = Reply::data(UNIQUE, data.clone());
        assert_eq!(r.len(), 1016);
        let [head, payload] = r.iovecs();
        assert_eq!(&*head, &B::header(1016, 0, UNIQUE).0[..]);
        assert_eq!(payload.as_ptr(), data.as_ptr());
        assert_eq!(payload.len(), 1000);
    }

    #[test]
    fn small_replies() {
        let open = ReplyOpen {
            fh: 11,
            flags: abi::FOPEN_KEEP_CACHE,
        };
        let want = B::header(32, 0, 1).u64(11).u32(2).i32(0);
        assert_eq!(Reply::open(1, &open).to_vec(), want.0);

        let write = Reply::write(1, &ReplyWrite { written: 4096 });
        assert_eq!(write.to_vec(), B::header(24, 0, 1).u32(4096).u32(0).0);

        let size = Reply::xattr(1, &ReplyXAttr::Size(12));
        assert_eq!(size.to_vec(), B::header(24, 0, 1).u32(12).u32(0).0);
        let data = Reply::xattr(1, &ReplyXAttr::Data(Bytes::from_static(b"v")));
        assert_eq!(data.to_vec(), B::header(17, 0, 1).raw(b"v").0);

        let lock = ReplyLock {
            start: 10,
            end: 20,
            r#type: libc::F_RDLCK as u32,
            pid: 99,
        };
        let want = B::header(40, 0, 1)
            .u64(10)
            .u64(20)
            .u32(libc::F_RDLCK as u32)
            .u32(99);
        assert_eq!(Reply::lock(1, &lock).to_vec(), want.0);
    }

    #[test]
    fn statfs() {
        let s = ReplyStatFs {
            blocks: 1,
            bfree: 2,
            bavail: 3,
            files: 4,
            ffree: 5,
            bsize: 4096,
            namelen: 255,
            frsize: 512,
        };
        let want = B::header(96, 0, 1)
            .u64(1)
            .u64(2)
            .u64(3)
            .u64(4)
            .u64(5)
            .u32(4096)
            .u32(255)
            .u32(512)
            .u32(0) // padding
            .raw(&[0; 24]); // spare
        assert_eq!(Reply::statfs(1, &s).to_vec(), want.0);
    }

    #[test]
    fn created_is_entry_then_open() {
        let c = ReplyCreated {
            ttl: TTL,
            attr: file_attr(),
            generation: 7,
            fh: 3,
            flags: abi::FOPEN_DIRECT_IO,
        };
        let want = B::header(16 + 128 + 16, 0, UNIQUE)
            .entry()
            .u64(3) // fh
            .u32(1) // open_flags
            .i32(0); // backing_id
        assert_eq!(Reply::created(UNIQUE, &c).to_vec(), want.0);
    }

    #[test]
    fn init_full_and_version_only() {
        let i = InitOut {
            major: 7,
            minor: 45,
            max_readahead: 131072,
            flags: abi::FUSE_ASYNC_READ | abi::FUSE_INIT_EXT | abi::FUSE_DIRECT_IO_ALLOW_MMAP,
            max_background: 64,
            congestion_threshold: 48,
            max_write: 1 << 20,
            time_gran: 1,
            max_pages: 256,
            request_timeout: 0,
        };
        let want = B::header(80, 0, 1)
            .u32(7)
            .u32(45)
            .u32(131072)
            .u32(0x4000_0001) // ASYNC_READ | INIT_EXT
            .u16(64)
            .u16(48)
            .u32(1 << 20)
            .u32(1) // time_gran
            .u16(256) // max_pages
            .u16(0) // map_alignment
            .u32(1 << 4) // flags2: DIRECT_IO_ALLOW_MMAP
            .u32(0) // max_stack_depth
            .u16(0) // request_timeout
            .raw(&[0; 22]); // unused
        assert_eq!(Reply::init(1, &i).to_vec(), want.0);
        let again = Reply::init_version(1, 7, 45);
        assert_eq!(again.to_vec(), B::header(24, 0, 1).u32(7).u32(45).0);
    }

    fn entry(name: &str, offset: i64) -> DirectoryEntry {
        DirectoryEntry {
            inode: 5,
            kind: FileType::Directory,
            name: OsString::from(name),
            offset,
        }
    }

    #[test]
    fn dirents_are_aligned_to_8() {
        let mut p = DirPacker::new(4096);
        assert!(p.is_empty());
        for (name, off) in [("a", 1), ("12345678", 2), ("123456789", 3)] {
            assert_eq!(p.push(&entry(name, off)), Push::Added { lookup: false });
        }
        // 24 + 1 -> 32, 24 + 8 -> 32, 24 + 9 -> 40.
        let d_dir = libc::S_IFDIR >> 12;
        let want = B::header(16 + 32 + 32 + 40, 0, UNIQUE)
            .u64(5) // ino
            .u64(1) // off
            .u32(1) // namelen
            .u32(d_dir)
            .raw(b"a\0\0\0\0\0\0\0")
            .u64(5)
            .u64(2)
            .u32(8)
            .u32(d_dir)
            .raw(b"12345678")
            .u64(5)
            .u64(3)
            .u32(9)
            .u32(d_dir)
            .raw(b"123456789\0\0\0\0\0\0\0");
        assert_eq!(p.finish(UNIQUE).to_vec(), want.0);
    }

    #[test]
    fn dirents_stop_at_the_kernels_size() {
        let mut p = DirPacker::new(64 + 31);
        assert_eq!(p.push(&entry("a", 1)), Push::Added { lookup: false });
        assert_eq!(p.push(&entry("b", 2)), Push::Added { lookup: false });
        assert_eq!(p.push(&entry("c", 3)), Push::Full);
        let r = p.finish(UNIQUE);
        assert_eq!(r.len(), 16 + 64);
        assert_eq!(&r.to_vec()[..4], &80u32.to_ne_bytes());
        // An exact fit is taken.
        let mut p = DirPacker::new(32);
        assert_eq!(p.push(&entry("a", 1)), Push::Added { lookup: false });
        // Nothing fits in 0: an empty listing is the directory's end.
        let mut p = DirPacker::new(0);
        assert_eq!(p.push(&entry("a", 1)), Push::Full);
        assert!(p.is_empty());
        assert_eq!(p.finish(1).to_vec(), B::header(16, 0, 1).0);
    }

    #[test]
    fn names_the_kernel_refuses_are_skipped() {
        let mut p = DirPacker::new(4096);
        let long = "x".repeat(abi::FUSE_NAME_MAX + 1);
        for bad in ["", "a/b", "a\0b", &long] {
            assert_eq!(p.push(&entry(bad, 1)), Push::Skipped, "{bad:?}");
        }
        assert!(p.is_empty());
        let longest = "x".repeat(abi::FUSE_NAME_MAX);
        assert_eq!(p.push(&entry(&longest, 1)), Push::Added { lookup: false });
    }

    /// An entry whose attributes name inode `nodeid` (0: none).
    fn plus(name: &str, nodeid: u64) -> DirectoryEntryPlus {
        DirectoryEntryPlus {
            inode: 42,
            generation: 7,
            kind: FileType::RegularFile,
            name: OsString::from(name),
            offset: 9,
            attr: FileAttr {
                ino: nodeid,
                ..file_attr()
            },
            entry_ttl: TTL,
            attr_ttl: TTL,
        }
    }

    #[test]
    fn direntplus_records() {
        let mut p = DirPlusPacker::new(4096);
        assert_eq!(p.push(&plus("f", 42)), Push::Added { lookup: true });
        let want = B::header(16 + 160, 0, UNIQUE)
            .entry()
            .u64(42) // dirent ino: the entry's inode
            .u64(9) // off
            .u32(1) // namelen
            .u32(libc::S_IFREG >> 12)
            .raw(b"f\0\0\0\0\0\0\0");
        assert_eq!(p.finish(UNIQUE).to_vec(), want.0);
    }

    #[test]
    fn direntplus_lookups_and_size() {
        let mut p = DirPlusPacker::new(3 * 160);
        // The kernel takes no lookup for "." and "..", nor for inode 0.
        assert_eq!(p.push(&plus(".", 42)), Push::Added { lookup: false });
        assert_eq!(p.push(&plus("..", 42)), Push::Added { lookup: false });
        assert_eq!(p.push(&plus("x", 0)), Push::Added { lookup: false });
        assert_eq!(p.push(&plus("y", 42)), Push::Full);
        assert_eq!(p.finish(1).len(), 16 + 3 * 160);
    }

    #[test]
    fn notifications() {
        let data = Bytes::from_static(b"pagecontent");
        let store = notify::store(42, 4096, data.clone());
        let [head, payload] = store.iovecs();
        let want = B::header(16 + 24 + 11, abi::FUSE_NOTIFY_STORE, 0)
            .u64(42) // nodeid
            .u64(4096) // offset
            .u32(11) // size
            .u32(0);
        assert_eq!(&*head, &want.0[..]);
        assert_eq!(payload.as_ptr(), data.as_ptr());

        let retrieve = notify::retrieve(77, 42, 0, 8192);
        let want = B::header(48, abi::FUSE_NOTIFY_RETRIEVE, 0)
            .u64(77)
            .u64(42)
            .u64(0)
            .u32(8192)
            .u32(0);
        assert_eq!(retrieve.to_vec(), want.0);

        let inval = notify::inval_inode(42, -1, 0);
        let want = B::header(40, abi::FUSE_NOTIFY_INVAL_INODE, 0)
            .u64(42)
            .u64(-1i64 as u64)
            .u64(0);
        assert_eq!(inval.to_vec(), want.0);

        let entry = notify::inval_entry(1, OsStr::new("name"));
        let want = B::header(16 + 16 + 5, abi::FUSE_NOTIFY_INVAL_ENTRY, 0)
            .u64(1) // parent
            .u32(4) // namelen, without the NUL
            .u32(0) // flags
            .raw(b"name\0");
        assert_eq!(entry.to_vec(), want.0);

        let delete = notify::delete(1, 42, OsStr::new("gone"));
        let want = B::header(16 + 24 + 5, abi::FUSE_NOTIFY_DELETE, 0)
            .u64(1)
            .u64(42)
            .u32(4)
            .u32(0)
            .raw(b"gone\0");
        assert_eq!(delete.to_vec(), want.0);
    }
}
