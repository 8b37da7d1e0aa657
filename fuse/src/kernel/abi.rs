//! The kernel's FUSE structs and numbers: the subset of
//! `<linux/fuse.h>` (protocol 7.45, Linux 6.18) this layer speaks.
//!
//! Written by hand from the header's layouts. Every struct is `#[repr(C)]`
//! with explicit padding fields, so it has no hidden padding and zerocopy can
//! read it from (and write it to) bytes without `unsafe`; a `const` block
//! after each one pins its size, so a slip in a field fails the build. The
//! names are the header's, so that its documentation applies.
//!
//! Byte order is the host's: the device speaks the kernel's native order.

#![allow(non_camel_case_types)]

use std::mem::size_of;

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The protocol's major version: a kernel offering another one is answered
/// with ours only, and sends INIT again (see [`super::init`]).
pub const FUSE_KERNEL_VERSION: u32 = 7;
/// The newest minor version we know the layouts of.
pub const FUSE_KERNEL_MINOR_VERSION: u32 = 45;
/// The root directory's node id.
pub const FUSE_ROOT_ID: u64 = 1;
/// The smallest buffer a read from the device may use.
pub const FUSE_MIN_READ_BUFFER: usize = 8192;
/// The longest name the kernel takes in a directory entry (longer: EIO).
pub const FUSE_NAME_MAX: usize = 1024;

/// Ioctl on a new `/dev/fuse` descriptor that attaches it to the session
/// of the descriptor whose number it is given: `_IOR(229, 0, uint32_t)`.
pub const FUSE_DEV_IOC_CLONE: u32 = 0x8004_e500;

/// An INTERRUPT's own `unique` is its target's with this bit set.
pub const FUSE_INT_REQ_BIT: u64 = 1 << 0;
/// Set in `unique` of a request the kernel sends again (FUSE_HAS_RESEND).
pub const FUSE_UNIQUE_RESEND: u64 = 1 << 63;

/// Request opcodes (`enum fuse_opcode`). A `match` over them names every
/// one, so a new opcode must be thought about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Opcode {
    Lookup = 1,
    Forget = 2,
    Getattr = 3,
    Setattr = 4,
    Readlink = 5,
    Symlink = 6,
    Mknod = 8,
    Mkdir = 9,
    Unlink = 10,
    Rmdir = 11,
    Rename = 12,
    Link = 13,
    Open = 14,
    Read = 15,
    Write = 16,
    Statfs = 17,
    Release = 18,
    Fsync = 20,
    Setxattr = 21,
    Getxattr = 22,
    Listxattr = 23,
    Removexattr = 24,
    Flush = 25,
    Init = 26,
    Opendir = 27,
    Readdir = 28,
    Releasedir = 29,
    Fsyncdir = 30,
    Getlk = 31,
    Setlk = 32,
    Setlkw = 33,
    Access = 34,
    Create = 35,
    Interrupt = 36,
    Bmap = 37,
    Destroy = 38,
    Ioctl = 39,
    Poll = 40,
    NotifyReply = 41,
    BatchForget = 42,
    Fallocate = 43,
    Readdirplus = 44,
    Rename2 = 45,
    Lseek = 46,
    CopyFileRange = 47,
    Setupmapping = 48,
    Removemapping = 49,
    Syncfs = 50,
    Tmpfile = 51,
    Statx = 52,
    CopyFileRange64 = 53,
}

impl Opcode {
    /// The opcode numbered `n`, if we know it.
    pub const fn from_u32(n: u32) -> Option<Opcode> {
        use Opcode::*;
        Some(match n {
            1 => Lookup,
            2 => Forget,
            3 => Getattr,
            4 => Setattr,
            5 => Readlink,
            6 => Symlink,
            8 => Mknod,
            9 => Mkdir,
            10 => Unlink,
            11 => Rmdir,
            12 => Rename,
            13 => Link,
            14 => Open,
            15 => Read,
            16 => Write,
            17 => Statfs,
            18 => Release,
            20 => Fsync,
            21 => Setxattr,
            22 => Getxattr,
            23 => Listxattr,
            24 => Removexattr,
            25 => Flush,
            26 => Init,
            27 => Opendir,
            28 => Readdir,
            29 => Releasedir,
            30 => Fsyncdir,
            31 => Getlk,
            32 => Setlk,
            33 => Setlkw,
            34 => Access,
            35 => Create,
            36 => Interrupt,
            37 => Bmap,
            38 => Destroy,
            39 => Ioctl,
            40 => Poll,
            41 => NotifyReply,
            42 => BatchForget,
            43 => Fallocate,
            44 => Readdirplus,
            45 => Rename2,
            46 => Lseek,
            47 => CopyFileRange,
            48 => Setupmapping,
            49 => Removemapping,
            50 => Syncfs,
            51 => Tmpfile,
            52 => Statx,
            53 => CopyFileRange64,
            _ => return None,
        })
    }
}

// Notification codes (`enum fuse_notify_code`): a notification is written
// with `unique` 0 and its code in the out header's `error`.
pub const FUSE_NOTIFY_POLL: i32 = 1;
pub const FUSE_NOTIFY_INVAL_INODE: i32 = 2;
pub const FUSE_NOTIFY_INVAL_ENTRY: i32 = 3;
pub const FUSE_NOTIFY_STORE: i32 = 4;
pub const FUSE_NOTIFY_RETRIEVE: i32 = 5;
pub const FUSE_NOTIFY_DELETE: i32 = 6;
pub const FUSE_NOTIFY_RESEND: i32 = 7;
pub const FUSE_NOTIFY_INC_EPOCH: i32 = 8;
pub const FUSE_NOTIFY_PRUNE: i32 = 9;

// INIT flags, as one u64: bits 0..31 travel in `flags`, bits 32..63 in
// `flags2` (shifted down), which the kernel reads only when FUSE_INIT_EXT is
// set in `flags`.
pub const FUSE_ASYNC_READ: u64 = 1 << 0;
pub const FUSE_POSIX_LOCKS: u64 = 1 << 1;
pub const FUSE_FILE_OPS: u64 = 1 << 2;
pub const FUSE_ATOMIC_O_TRUNC: u64 = 1 << 3;
pub const FUSE_EXPORT_SUPPORT: u64 = 1 << 4;
pub const FUSE_BIG_WRITES: u64 = 1 << 5;
pub const FUSE_DONT_MASK: u64 = 1 << 6;
pub const FUSE_SPLICE_WRITE: u64 = 1 << 7;
pub const FUSE_SPLICE_MOVE: u64 = 1 << 8;
pub const FUSE_SPLICE_READ: u64 = 1 << 9;
pub const FUSE_FLOCK_LOCKS: u64 = 1 << 10;
pub const FUSE_HAS_IOCTL_DIR: u64 = 1 << 11;
pub const FUSE_AUTO_INVAL_DATA: u64 = 1 << 12;
pub const FUSE_DO_READDIRPLUS: u64 = 1 << 13;
pub const FUSE_READDIRPLUS_AUTO: u64 = 1 << 14;
pub const FUSE_ASYNC_DIO: u64 = 1 << 15;
pub const FUSE_WRITEBACK_CACHE: u64 = 1 << 16;
pub const FUSE_NO_OPEN_SUPPORT: u64 = 1 << 17;
pub const FUSE_PARALLEL_DIROPS: u64 = 1 << 18;
pub const FUSE_HANDLE_KILLPRIV: u64 = 1 << 19;
pub const FUSE_POSIX_ACL: u64 = 1 << 20;
pub const FUSE_ABORT_ERROR: u64 = 1 << 21;
pub const FUSE_MAX_PAGES: u64 = 1 << 22;
pub const FUSE_CACHE_SYMLINKS: u64 = 1 << 23;
pub const FUSE_NO_OPENDIR_SUPPORT: u64 = 1 << 24;
pub const FUSE_EXPLICIT_INVAL_DATA: u64 = 1 << 25;
pub const FUSE_MAP_ALIGNMENT: u64 = 1 << 26;
pub const FUSE_SUBMOUNTS: u64 = 1 << 27;
pub const FUSE_HANDLE_KILLPRIV_V2: u64 = 1 << 28;
pub const FUSE_SETXATTR_EXT: u64 = 1 << 29;
pub const FUSE_INIT_EXT: u64 = 1 << 30;
pub const FUSE_INIT_RESERVED: u64 = 1 << 31;
pub const FUSE_SECURITY_CTX: u64 = 1 << 32;
pub const FUSE_HAS_INODE_DAX: u64 = 1 << 33;
pub const FUSE_CREATE_SUPP_GROUP: u64 = 1 << 34;
pub const FUSE_HAS_EXPIRE_ONLY: u64 = 1 << 35;
pub const FUSE_DIRECT_IO_ALLOW_MMAP: u64 = 1 << 36;
pub const FUSE_PASSTHROUGH: u64 = 1 << 37;
pub const FUSE_NO_EXPORT_SUPPORT: u64 = 1 << 38;
pub const FUSE_HAS_RESEND: u64 = 1 << 39;
pub const FUSE_ALLOW_IDMAP: u64 = 1 << 40;
pub const FUSE_OVER_IO_URING: u64 = 1 << 41;
pub const FUSE_REQUEST_TIMEOUT: u64 = 1 << 42;

// `fuse_setattr_in.valid`: which fields a SETATTR sets.
pub const FATTR_MODE: u32 = 1 << 0;
pub const FATTR_UID: u32 = 1 << 1;
pub const FATTR_GID: u32 = 1 << 2;
pub const FATTR_SIZE: u32 = 1 << 3;
pub const FATTR_ATIME: u32 = 1 << 4;
pub const FATTR_MTIME: u32 = 1 << 5;
pub const FATTR_FH: u32 = 1 << 6;
pub const FATTR_ATIME_NOW: u32 = 1 << 7;
pub const FATTR_MTIME_NOW: u32 = 1 << 8;
pub const FATTR_LOCKOWNER: u32 = 1 << 9;
pub const FATTR_CTIME: u32 = 1 << 10;
pub const FATTR_KILL_SUIDGID: u32 = 1 << 11;

// `fuse_open_out.open_flags`: how the kernel treats an open file.
pub const FOPEN_DIRECT_IO: u32 = 1 << 0;
pub const FOPEN_KEEP_CACHE: u32 = 1 << 1;
pub const FOPEN_NONSEEKABLE: u32 = 1 << 2;
pub const FOPEN_CACHE_DIR: u32 = 1 << 3;
pub const FOPEN_STREAM: u32 = 1 << 4;
pub const FOPEN_NOFLUSH: u32 = 1 << 5;
pub const FOPEN_PARALLEL_DIRECT_WRITES: u32 = 1 << 6;
pub const FOPEN_PASSTHROUGH: u32 = 1 << 7;

/// `fuse_release_in.release_flags`: flush before releasing.
pub const FUSE_RELEASE_FLUSH: u32 = 1 << 0;
/// `fuse_release_in.release_flags`: drop the owner's flock locks.
pub const FUSE_RELEASE_FLOCK_UNLOCK: u32 = 1 << 1;
/// `fuse_getattr_in.getattr_flags`: `fh` is valid (an fstat).
pub const FUSE_GETATTR_FH: u32 = 1 << 0;
/// `fuse_lk_in.lk_flags`: a flock(2) lock, not a POSIX one.
pub const FUSE_LK_FLOCK: u32 = 1 << 0;
/// `fuse_write_in.write_flags`: from the page cache (the handle is a guess).
pub const FUSE_WRITE_CACHE: u32 = 1 << 0;
/// `fuse_write_in.write_flags`: `lock_owner` is valid.
pub const FUSE_WRITE_LOCKOWNER: u32 = 1 << 1;
/// `fuse_write_in.write_flags`: clear set-id bits.
pub const FUSE_WRITE_KILL_SUIDGID: u32 = 1 << 2;
/// `fuse_read_in.read_flags`: `lock_owner` is valid.
pub const FUSE_READ_LOCKOWNER: u32 = 1 << 1;
/// `fuse_fsync_in.fsync_flags`: data only (fdatasync).
pub const FUSE_FSYNC_FDATASYNC: u32 = 1 << 0;
/// `fuse_notify_inval_entry_out.flags`: only expire the entry.
pub const FUSE_EXPIRE_ONLY: u32 = 1 << 0;

// FUSE over io_uring.
/// Bytes for the in (or out) header in a ring entry's header buffer.
pub const FUSE_URING_IN_OUT_HEADER_SZ: usize = 128;
/// Bytes for the first argument in a ring entry's header buffer.
pub const FUSE_URING_OP_IN_OUT_SZ: usize = 128;
/// `cmd_op`: give the kernel a ring entry.
pub const FUSE_IO_URING_CMD_REGISTER: u32 = 1;
/// `cmd_op`: answer the entry's request and take the next one.
pub const FUSE_IO_URING_CMD_COMMIT_AND_FETCH: u32 = 2;

/// Asserts at compile time that each listed type has the given size.
macro_rules! sizes {
    ($($t:ty = $n:expr;)*) => {
        const _: () = { $(assert!(size_of::<$t>() == $n);)* };
    };
}

/// Derives shared by every struct here.
macro_rules! wire {
    ($(#[$m:meta])* pub struct $name:ident { $($body:tt)* }) => {
        $(#[$m])*
        #[repr(C)]
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        #[derive(FromBytes, IntoBytes, KnownLayout, Immutable)]
        pub struct $name { $($body)* }
    };
}

wire! {
    /// Heads every request. `len` counts everything, this header included.
    pub struct fuse_in_header {
        pub len: u32,
        pub opcode: u32,
        pub unique: u64,
        pub nodeid: u64,
        pub uid: u32,
        pub gid: u32,
        pub pid: u32,
        /// Extensions at the end of the request, in 8-byte units.
        pub total_extlen: u16,
        pub padding: u16,
    }
}

wire! {
    /// Heads every reply and notification.
    pub struct fuse_out_header {
        pub len: u32,
        /// A reply's negated errno (0: success), or a notification's code.
        pub error: i32,
        /// The request answered; 0 for a notification.
        pub unique: u64,
    }
}

wire! {
    /// Attributes, in the layout since 7.32 (with `flags`).
    pub struct fuse_attr {
        pub ino: u64,
        pub size: u64,
        pub blocks: u64,
        pub atime: u64,
        pub mtime: u64,
        pub ctime: u64,
        pub atimensec: u32,
        pub mtimensec: u32,
        pub ctimensec: u32,
        pub mode: u32,
        pub nlink: u32,
        pub uid: u32,
        pub gid: u32,
        pub rdev: u32,
        pub blksize: u32,
        pub flags: u32,
    }
}

wire! {
    /// INIT's argument since 7.36. Older kernels send only the first four
    /// fields ([`fuse_init_in_compat`]).
    pub struct fuse_init_in {
        pub major: u32,
        pub minor: u32,
        pub max_readahead: u32,
        pub flags: u32,
        pub flags2: u32,
        pub unused: [u32; 11],
    }
}

wire! {
    /// INIT's argument as kernels before 7.36 send it.
    pub struct fuse_init_in_compat {
        pub major: u32,
        pub minor: u32,
        pub max_readahead: u32,
        pub flags: u32,
    }
}

wire! {
    /// INIT's reply (7.43 layout: `max_stack_depth`, `request_timeout`).
    pub struct fuse_init_out {
        pub major: u32,
        pub minor: u32,
        pub max_readahead: u32,
        pub flags: u32,
        pub max_background: u16,
        pub congestion_threshold: u16,
        pub max_write: u32,
        pub time_gran: u32,
        pub max_pages: u16,
        pub map_alignment: u16,
        pub flags2: u32,
        pub max_stack_depth: u32,
        pub request_timeout: u16,
        pub unused: [u16; 11],
    }
}

/// How much of [`fuse_init_out`] to send to ask for another major version:
/// just `major` and `minor`, which every kernel takes.
pub const FUSE_COMPAT_INIT_OUT_SIZE: usize = 8;

wire! {
    pub struct fuse_entry_out {
        pub nodeid: u64,
        pub generation: u64,
        pub entry_valid: u64,
        pub attr_valid: u64,
        pub entry_valid_nsec: u32,
        pub attr_valid_nsec: u32,
        pub attr: fuse_attr,
    }
}

wire! {
    pub struct fuse_attr_out {
        pub attr_valid: u64,
        pub attr_valid_nsec: u32,
        pub dummy: u32,
        pub attr: fuse_attr,
    }
}

wire! {
    pub struct fuse_getattr_in {
        pub getattr_flags: u32,
        pub dummy: u32,
        pub fh: u64,
    }
}

wire! {
    pub struct fuse_setattr_in {
        pub valid: u32,
        pub padding: u32,
        pub fh: u64,
        pub size: u64,
        pub lock_owner: u64,
        pub atime: u64,
        pub mtime: u64,
        pub ctime: u64,
        pub atimensec: u32,
        pub mtimensec: u32,
        pub ctimensec: u32,
        pub mode: u32,
        pub unused4: u32,
        pub uid: u32,
        pub gid: u32,
        pub unused5: u32,
    }
}

wire! {
    pub struct fuse_mknod_in {
        pub mode: u32,
        pub rdev: u32,
        pub umask: u32,
        pub padding: u32,
    }
}

wire! {
    pub struct fuse_mkdir_in {
        pub mode: u32,
        pub umask: u32,
    }
}

wire! {
    pub struct fuse_rename_in {
        pub newdir: u64,
    }
}

wire! {
    pub struct fuse_rename2_in {
        pub newdir: u64,
        pub flags: u32,
        pub padding: u32,
    }
}

wire! {
    pub struct fuse_link_in {
        pub oldnodeid: u64,
    }
}

wire! {
    pub struct fuse_open_in {
        pub flags: u32,
        /// FUSE_OPEN_KILL_SUIDGID (with HANDLE_KILLPRIV_V2 only).
        pub open_flags: u32,
    }
}

wire! {
    pub struct fuse_create_in {
        pub flags: u32,
        pub mode: u32,
        pub umask: u32,
        pub open_flags: u32,
    }
}

wire! {
    pub struct fuse_open_out {
        pub fh: u64,
        pub open_flags: u32,
        /// With FOPEN_PASSTHROUGH: the backing file's id.
        pub backing_id: i32,
    }
}

wire! {
    pub struct fuse_release_in {
        pub fh: u64,
        pub flags: u32,
        pub release_flags: u32,
        pub lock_owner: u64,
    }
}

wire! {
    pub struct fuse_flush_in {
        pub fh: u64,
        pub unused: u32,
        pub padding: u32,
        pub lock_owner: u64,
    }
}

wire! {
    /// READ, READDIR and READDIRPLUS.
    pub struct fuse_read_in {
        pub fh: u64,
        pub offset: u64,
        pub size: u32,
        pub read_flags: u32,
        pub lock_owner: u64,
        pub flags: u32,
        pub padding: u32,
    }
}

wire! {
    /// WRITE's argument; `size` bytes of data follow it.
    pub struct fuse_write_in {
        pub fh: u64,
        pub offset: u64,
        pub size: u32,
        pub write_flags: u32,
        pub lock_owner: u64,
        pub flags: u32,
        pub padding: u32,
    }
}

wire! {
    pub struct fuse_write_out {
        pub size: u32,
        pub padding: u32,
    }
}

wire! {
    pub struct fuse_kstatfs {
        pub blocks: u64,
        pub bfree: u64,
        pub bavail: u64,
        pub files: u64,
        pub ffree: u64,
        pub bsize: u32,
        pub namelen: u32,
        pub frsize: u32,
        pub padding: u32,
        pub spare: [u32; 6],
    }
}

wire! {
    pub struct fuse_statfs_out {
        pub st: fuse_kstatfs,
    }
}

wire! {
    pub struct fuse_fsync_in {
        pub fh: u64,
        pub fsync_flags: u32,
        pub padding: u32,
    }
}

wire! {
    /// SETXATTR's argument when FUSE_SETXATTR_EXT was agreed. We never ask
    /// for it, so the kernel sends [`fuse_setxattr_in_compat`].
    pub struct fuse_setxattr_in {
        pub size: u32,
        pub flags: u32,
        pub setxattr_flags: u32,
        pub padding: u32,
    }
}

wire! {
    /// SETXATTR's argument without FUSE_SETXATTR_EXT; name and value follow.
    pub struct fuse_setxattr_in_compat {
        pub size: u32,
        pub flags: u32,
    }
}

wire! {
    /// GETXATTR (name follows) and LISTXATTR.
    pub struct fuse_getxattr_in {
        pub size: u32,
        pub padding: u32,
    }
}

wire! {
    /// The reply to a size query (`size` 0 in the request).
    pub struct fuse_getxattr_out {
        pub size: u32,
        pub padding: u32,
    }
}

wire! {
    pub struct fuse_file_lock {
        pub start: u64,
        pub end: u64,
        pub r#type: u32,
        /// The owner's thread group id.
        pub pid: u32,
    }
}

wire! {
    /// GETLK, SETLK and SETLKW.
    pub struct fuse_lk_in {
        pub fh: u64,
        pub owner: u64,
        pub lk: fuse_file_lock,
        pub lk_flags: u32,
        pub padding: u32,
    }
}

wire! {
    pub struct fuse_lk_out {
        pub lk: fuse_file_lock,
    }
}

wire! {
    pub struct fuse_access_in {
        pub mask: u32,
        pub padding: u32,
    }
}

wire! {
    /// INTERRUPT: the target's `unique`.
    pub struct fuse_interrupt_in {
        pub unique: u64,
    }
}

wire! {
    pub struct fuse_forget_in {
        pub nlookup: u64,
    }
}

wire! {
    /// BATCH_FORGET's argument; `count` [`fuse_forget_one`] follow.
    pub struct fuse_batch_forget_in {
        pub count: u32,
        pub dummy: u32,
    }
}

wire! {
    pub struct fuse_forget_one {
        pub nodeid: u64,
        pub nlookup: u64,
    }
}

wire! {
    /// A READDIR record: the name follows, then zeros to a multiple of 8.
    pub struct fuse_dirent {
        pub ino: u64,
        /// Where the listing continues after this entry.
        pub off: u64,
        pub namelen: u32,
        /// `d_type`: the `S_IFMT` bits shifted down by 12.
        pub r#type: u32,
    }
}

wire! {
    /// A READDIRPLUS record: a lookup's answer, then a [`fuse_dirent`].
    pub struct fuse_direntplus {
        pub entry_out: fuse_entry_out,
        pub dirent: fuse_dirent,
    }
}

wire! {
    /// NOTIFY_STORE: `size` bytes follow, to put in the inode's page cache.
    pub struct fuse_notify_store_out {
        pub nodeid: u64,
        pub offset: u64,
        pub size: u32,
        pub padding: u32,
    }
}

wire! {
    /// NOTIFY_RETRIEVE: ask the kernel for its cached pages; the answer
    /// is a NOTIFY_REPLY request with `unique` = `notify_unique`.
    pub struct fuse_notify_retrieve_out {
        pub notify_unique: u64,
        pub nodeid: u64,
        pub offset: u64,
        pub size: u32,
        pub padding: u32,
    }
}

wire! {
    /// NOTIFY_REPLY's argument (the size of [`fuse_write_in`]); the data
    /// follows.
    pub struct fuse_notify_retrieve_in {
        pub dummy1: u64,
        pub offset: u64,
        pub size: u32,
        pub dummy2: u32,
        pub dummy3: u64,
        pub dummy4: u64,
    }
}

wire! {
    /// NOTIFY_INVAL_INODE: drop the attributes and the pages in the range
    /// (`off` 0, `len` 0 or less: all; `off` negative: attributes only).
    pub struct fuse_notify_inval_inode_out {
        pub ino: u64,
        pub off: i64,
        pub len: i64,
    }
}

wire! {
    /// NOTIFY_INVAL_ENTRY: the name (and a NUL) follows.
    pub struct fuse_notify_inval_entry_out {
        pub parent: u64,
        pub namelen: u32,
        pub flags: u32,
    }
}

wire! {
    /// NOTIFY_DELETE: as INVAL_ENTRY, and the child's dentry goes too if it
    /// is `child`.
    pub struct fuse_notify_delete_out {
        pub parent: u64,
        pub child: u64,
        pub namelen: u32,
        pub padding: u32,
    }
}

wire! {
    /// A ring entry's bookkeeping, shared with the kernel.
    pub struct fuse_uring_ent_in_out {
        pub flags: u64,
        /// The request's `unique`, given back at COMMIT_AND_FETCH.
        pub commit_id: u64,
        /// Bytes used in the entry's payload buffer.
        pub payload_sz: u32,
        pub padding: u32,
        pub reserved: u64,
    }
}

/// A ring entry's header buffer: the in (or out) header, the first
/// argument, and the entry's bookkeeping.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct fuse_uring_req_header {
    pub in_out: [u8; FUSE_URING_IN_OUT_HEADER_SZ],
    pub op_in: [u8; FUSE_URING_OP_IN_OUT_SZ],
    pub ring_ent_in_out: fuse_uring_ent_in_out,
}

wire! {
    /// The command in an io_uring SQE's 80-byte area.
    pub struct fuse_uring_cmd_req {
        pub flags: u64,
        pub commit_id: u64,
        pub qid: u16,
        pub padding: [u8; 6],
    }
}

sizes! {
    fuse_in_header = 40;
    fuse_out_header = 16;
    fuse_attr = 88;
    fuse_init_in = 64;
    fuse_init_in_compat = 16;
    fuse_init_out = 64;
    fuse_entry_out = 128;
    fuse_attr_out = 104;
    fuse_getattr_in = 16;
    fuse_setattr_in = 88;
    fuse_mknod_in = 16;
    fuse_mkdir_in = 8;
    fuse_rename_in = 8;
    fuse_rename2_in = 16;
    fuse_link_in = 8;
    fuse_open_in = 8;
    fuse_create_in = 16;
    fuse_open_out = 16;
    fuse_release_in = 24;
    fuse_flush_in = 24;
    fuse_read_in = 40;
    fuse_write_in = 40;
    fuse_write_out = 8;
    fuse_kstatfs = 80;
    fuse_statfs_out = 80;
    fuse_fsync_in = 16;
    fuse_setxattr_in = 16;
    fuse_setxattr_in_compat = 8;
    fuse_getxattr_in = 8;
    fuse_getxattr_out = 8;
    fuse_file_lock = 24;
    fuse_lk_in = 48;
    fuse_lk_out = 24;
    fuse_access_in = 8;
    fuse_interrupt_in = 8;
    fuse_forget_in = 8;
    fuse_batch_forget_in = 8;
    fuse_forget_one = 16;
    fuse_dirent = 24;
    fuse_direntplus = 152;
    fuse_notify_store_out = 24;
    fuse_notify_retrieve_out = 32;
    fuse_notify_retrieve_in = 40;
    fuse_notify_inval_inode_out = 24;
    fuse_notify_inval_entry_out = 16;
    fuse_notify_delete_out = 24;
    fuse_uring_ent_in_out = 32;
    fuse_uring_req_header = 288;
    fuse_uring_cmd_req = 24;
}

// The ioctl number, recomputed from its parts: _IOR = read (2) << 30,
// size << 16, type << 8, number.
const _: () = assert!(FUSE_DEV_IOC_CLONE == (2 << 30) | (4 << 16) | (229 << 8));
// The uring header buffer holds the in header, the out header and every
// first argument we decode.
const _: () = {
    assert!(size_of::<fuse_in_header>() <= FUSE_URING_IN_OUT_HEADER_SZ);
    assert!(size_of::<fuse_setattr_in>() <= FUSE_URING_OP_IN_OUT_SZ);
};

/// `x` rounded up to the 8 bytes every directory record is aligned to.
pub const fn dirent_align(x: usize) -> usize {
    (x + 7) & !7
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_round_trip() {
        for n in 0..=60 {
            if let Some(op) = Opcode::from_u32(n) {
                assert_eq!(op as u32, n);
            }
        }
        assert_eq!(Opcode::from_u32(7), None);
        assert_eq!(Opcode::from_u32(19), None);
        assert_eq!(Opcode::from_u32(26), Some(Opcode::Init));
        assert_eq!(Opcode::from_u32(52), Some(Opcode::Statx));
    }

    #[test]
    fn dirent_alignment() {
        assert_eq!(dirent_align(24), 24);
        assert_eq!(dirent_align(25), 32);
        assert_eq!(dirent_align(31), 32);
    }

    #[test]
    fn in_header_field_offsets() {
        let h = fuse_in_header {
            len: 0x0102_0304,
            opcode: 26,
            unique: 9,
            nodeid: 1,
            uid: 2,
            gid: 3,
            pid: 4,
            total_extlen: 5,
            padding: 0,
        };
        let b = h.as_bytes();
        assert_eq!(&b[0..4], &0x0102_0304u32.to_ne_bytes());
        assert_eq!(&b[8..16], &9u64.to_ne_bytes());
        assert_eq!(&b[16..24], &1u64.to_ne_bytes());
        assert_eq!(&b[36..38], &5u16.to_ne_bytes());
    }
}
