//! The kernel's side of FUSE, served by us: mounting, the `/dev/fuse`
//! device, the protocol's messages, and the session that reads requests,
//! hands them to a [`Filesystem`] and writes its replies.
//!
//! - [`abi`]: the kernel's structs and numbers (`<linux/fuse.h>`, protocol
//!   7.45), with their sizes checked at compile time.
//! - [`op`]: a request's bytes decoded into an [`op::Operation`] that
//!   borrows them (no copy of names or write data).
//! - [`reply`]: replies and notifications encoded, as a header and the
//!   parts that follow it, for one vectored write (a read's data is
//!   never joined or copied).
//! - [`init`]: the INIT handshake: which protocol and which flags.
//! - [`dev`]: the device: non-blocking reads into reused buffers through
//!   tokio, vectored writes, more readers through FUSE_DEV_IOC_CLONE.
//! - [`mount`]: mounting through fusermount3 (the device comes back over
//!   a socket) or mount(2), and unmounting.
//! - [`types`], [`filesystem`]: what a file system implements and answers.
//! - [`uring`]: FUSE over io_uring, the other way requests come and
//!   replies go, where the kernel offers it.
//! - [`session`]: the loop (protocol state apart from I/O where it can be).

#[allow(
    dead_code,
    reason = "the protocol's numbers and layouts, used or not yet"
)]
pub mod abi;
pub mod dev;
pub mod filesystem;
pub mod init;
pub mod mount;
pub(crate) mod msg;
pub mod op;
pub mod reply;
pub mod session;
#[cfg(test)]
mod test_bytes;
pub mod types;
pub mod uring;

pub use types::*;

/// What the handlers use, in one import.
pub mod prelude {
    pub use super::filesystem::Filesystem;
    pub use super::types::{
        DirectoryEntry, DirectoryEntryPlus, Errno, FileAttr, FileType, ReplyAttr, ReplyCreated,
        ReplyData, ReplyDirectory, ReplyDirectoryPlus, ReplyEntry, ReplyInit, ReplyLock, ReplyOpen,
        ReplyStatFs, ReplyWrite, ReplyXAttr, Request, SetAttr, SetTime, Timestamp,
    };
}
