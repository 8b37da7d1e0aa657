//! What a file system hands the session layer and gets from it: requests'
//! callers, attributes, and one reply type per operation. The session
//! layer ([`super::session`]) turns them into the kernel's structs
//! ([`super::reply`]); the handlers never see the wire.

use std::ffi::OsString;
use std::time::Duration;

use bytes::Bytes;

/// The caller of a request, as the kernel sends it in the request's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    /// The request's number, unique among the requests in flight: an
    /// interrupt names its target by it.
    pub unique: u64,
    pub uid: u32,
    pub gid: u32,
    pub pid: u32,
}

/// An error a handler answers with: an errno, sent to the kernel negated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl From<i32> for Errno {
    fn from(e: i32) -> Self {
        Errno(e)
    }
}

impl From<Errno> for i32 {
    fn from(e: Errno) -> i32 {
        e.0
    }
}

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "errno {}", self.0)
    }
}

impl std::error::Error for Errno {}

/// A handler's answer.
pub type Result<T> = std::result::Result<T, Errno>;

/// A point in time, as the kernel takes it: seconds and nanoseconds since
/// the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Timestamp {
    pub sec: i64,
    pub nsec: u32,
}

impl Timestamp {
    pub const fn new(sec: i64, nsec: u32) -> Self {
        Timestamp { sec, nsec }
    }
}

impl From<std::time::SystemTime> for Timestamp {
    /// A time before the epoch counts back from it, as `st_mtime` does.
    fn from(t: std::time::SystemTime) -> Self {
        match t.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => Timestamp::new(d.as_secs() as i64, d.subsec_nanos()),
            Err(e) => {
                let d = e.duration();
                match d.subsec_nanos() {
                    0 => Timestamp::new(-(d.as_secs() as i64), 0),
                    n => Timestamp::new(-(d.as_secs() as i64) - 1, 1_000_000_000 - n),
                }
            }
        }
    }
}

/// A time `setattr` sets: a given one, or the file system's "now"
/// (`utimensat` with UTIME_NOW: the kernel's FATTR_ATIME_NOW and
/// FATTR_MTIME_NOW), which a network file system should take from the
/// server's clock, not ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetTime {
    Now,
    At(Timestamp),
}

/// What a `setattr` changes (`None`: left alone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SetAttr {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub size: Option<u64>,
    pub lock_owner: Option<u64>,
    pub atime: Option<SetTime>,
    pub mtime: Option<SetTime>,
    pub ctime: Option<Timestamp>,
}

/// The kind of a file, as `S_IFMT` and `d_type` say it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    NamedPipe,
    CharDevice,
    BlockDevice,
    Directory,
    RegularFile,
    Symlink,
    Socket,
}

impl FileType {
    /// The `S_IFMT` bits.
    pub const fn mode(self) -> u32 {
        match self {
            FileType::NamedPipe => libc::S_IFIFO,
            FileType::CharDevice => libc::S_IFCHR,
            FileType::BlockDevice => libc::S_IFBLK,
            FileType::Directory => libc::S_IFDIR,
            FileType::RegularFile => libc::S_IFREG,
            FileType::Symlink => libc::S_IFLNK,
            FileType::Socket => libc::S_IFSOCK,
        }
    }

    /// The `d_type` of a directory entry.
    pub const fn dirent_type(self) -> u32 {
        self.mode() >> 12
    }
}

/// A file's attributes, as the kernel is told them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileAttr {
    pub ino: u64,
    pub size: u64,
    pub blocks: u64,
    pub atime: Timestamp,
    pub mtime: Timestamp,
    pub ctime: Timestamp,
    pub kind: FileType,
    /// Permission bits (and set-id and sticky bits), without `S_IFMT`.
    pub perm: u16,
    pub nlink: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: u32,
    pub blksize: u32,
}

/// What the file system asks of the kernel at INIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyInit {
    /// Largest write (and direct read) the kernel may send.
    pub max_write: u32,
    /// Requests the kernel may have in the background at once.
    pub max_background: u16,
    /// Background requests above which the kernel reports congestion.
    pub congestion_threshold: u16,
    /// Whether a file opened with `FOPEN_DIRECT_IO` may be mapped shared
    /// and writable (FUSE_DIRECT_IO_ALLOW_MMAP, when the kernel offers it).
    pub direct_io_allow_mmap: bool,
    /// Whether requests may come through io_uring (FUSE_OVER_IO_URING,
    /// when the kernel offers it and a ring can be made).
    pub over_io_uring: bool,
}

/// A name found: its attributes, trusted for `ttl` (the name for as long).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyEntry {
    pub ttl: Duration,
    pub attr: FileAttr,
    pub generation: u64,
}

/// Attributes, trusted for `ttl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyAttr {
    pub ttl: Duration,
    pub attr: FileAttr,
}

/// Bytes: a read, a link's target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyData {
    pub data: Bytes,
}

impl From<Bytes> for ReplyData {
    fn from(data: Bytes) -> Self {
        ReplyData { data }
    }
}

/// An open file or directory: its handle and `FOPEN_*` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyOpen {
    pub fh: u64,
    pub flags: u32,
}

/// Bytes written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyWrite {
    pub written: u32,
}

/// `statfs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyStatFs {
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub bsize: u32,
    pub namelen: u32,
    pub frsize: u32,
}

/// An extended attribute's (or the list's) size, when asked with size 0,
/// or its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyXAttr {
    Size(u32),
    Data(Bytes),
}

/// A lock that conflicts (`getlk`), or `F_UNLCK` in `type` for none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyLock {
    pub start: u64,
    pub end: u64,
    pub r#type: u32,
    pub pid: u32,
}

/// A file created and opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyCreated {
    pub ttl: Duration,
    pub attr: FileAttr,
    pub generation: u64,
    pub fh: u64,
    pub flags: u32,
}

/// An entry of a listing; `offset` is where the next call starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    pub inode: u64,
    pub kind: FileType,
    pub name: OsString,
    pub offset: i64,
}

/// An entry of a listing with its attributes: `inode` is the entry's
/// `d_ino`; `attr.ino` is the inode the kernel links the name to and takes
/// a lookup of (0: none, the kernel then takes only the name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntryPlus {
    pub inode: u64,
    pub generation: u64,
    pub kind: FileType,
    pub name: OsString,
    pub offset: i64,
    pub attr: FileAttr,
    pub entry_ttl: Duration,
    pub attr_ttl: Duration,
}

/// A listing: entries from the one the call asked for, as many as fit.
#[derive(Debug)]
pub struct ReplyDirectory<S> {
    pub entries: S,
}

/// A listing with attributes.
#[derive(Debug)]
pub struct ReplyDirectoryPlus<S> {
    pub entries: S,
}
