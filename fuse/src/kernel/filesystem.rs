//! [`Filesystem`]: what a file system served through [`super::session`]
//! implements, one method per FUSE operation, by inode number.
//!
//! Every method has a default: ENOSYS for the operations a file system
//! may lack (the kernel then stops sending some of them), nothing for the
//! ones with no answer. Each call runs as its own task; the session layer
//! has registered the request's `unique` before the call starts, so an
//! interrupt that names it is never early (see [`Filesystem::interrupt`]).

use std::ffi::OsStr;
use std::future::Future;

use bytes::Bytes;
use futures::stream::{Empty, Stream};

use super::types::*;

const NOSYS: Errno = Errno(libc::ENOSYS);

/// A file system the session layer serves (see the module doc).
#[allow(unused_variables, clippy::too_many_arguments)]
pub trait Filesystem: Send + Sync + 'static {
    /// The INIT handshake: what to ask of the kernel.
    fn init(&self, req: Request) -> impl Future<Output = Result<ReplyInit>> + Send;

    /// The session is ending (the kernel sent DESTROY, or the device
    /// closed).
    fn destroy(&self, req: Request) -> impl Future<Output = ()> + Send {
        async {}
    }

    fn lookup(
        &self,
        req: Request,
        parent: u64,
        name: &OsStr,
    ) -> impl Future<Output = Result<ReplyEntry>> + Send {
        async { Err(NOSYS) }
    }

    /// The kernel forgets `nlookup` of the lookups it was given for `ino`.
    fn forget(&self, req: Request, ino: u64, nlookup: u64) -> impl Future<Output = ()> + Send {
        async {}
    }

    fn batch_forget(&self, req: Request, inodes: &[(u64, u64)]) -> impl Future<Output = ()> + Send {
        async {}
    }

    fn getattr(
        &self,
        req: Request,
        ino: u64,
        fh: Option<u64>,
        flags: u32,
    ) -> impl Future<Output = Result<ReplyAttr>> + Send {
        async { Err(NOSYS) }
    }

    fn setattr(
        &self,
        req: Request,
        ino: u64,
        fh: Option<u64>,
        set: SetAttr,
    ) -> impl Future<Output = Result<ReplyAttr>> + Send {
        async { Err(NOSYS) }
    }

    fn readlink(&self, req: Request, ino: u64) -> impl Future<Output = Result<ReplyData>> + Send {
        async { Err(NOSYS) }
    }

    fn symlink(
        &self,
        req: Request,
        parent: u64,
        name: &OsStr,
        link: &OsStr,
    ) -> impl Future<Output = Result<ReplyEntry>> + Send {
        async { Err(NOSYS) }
    }

    fn mknod(
        &self,
        req: Request,
        parent: u64,
        name: &OsStr,
        mode: u32,
        rdev: u32,
    ) -> impl Future<Output = Result<ReplyEntry>> + Send {
        async { Err(NOSYS) }
    }

    fn mkdir(
        &self,
        req: Request,
        parent: u64,
        name: &OsStr,
        mode: u32,
        umask: u32,
    ) -> impl Future<Output = Result<ReplyEntry>> + Send {
        async { Err(NOSYS) }
    }

    fn unlink(
        &self,
        req: Request,
        parent: u64,
        name: &OsStr,
    ) -> impl Future<Output = Result<()>> + Send {
        async { Err(NOSYS) }
    }

    fn rmdir(
        &self,
        req: Request,
        parent: u64,
        name: &OsStr,
    ) -> impl Future<Output = Result<()>> + Send {
        async { Err(NOSYS) }
    }

    /// RENAME and RENAME2 (`flags`: RENAME_NOREPLACE, RENAME_EXCHANGE).
    fn rename(
        &self,
        req: Request,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        flags: u32,
    ) -> impl Future<Output = Result<()>> + Send {
        async { Err(NOSYS) }
    }

    fn link(
        &self,
        req: Request,
        ino: u64,
        new_parent: u64,
        new_name: &OsStr,
    ) -> impl Future<Output = Result<ReplyEntry>> + Send {
        async { Err(NOSYS) }
    }

    fn open(
        &self,
        req: Request,
        ino: u64,
        flags: u32,
    ) -> impl Future<Output = Result<ReplyOpen>> + Send {
        async { Err(NOSYS) }
    }

    fn read(
        &self,
        req: Request,
        ino: u64,
        fh: u64,
        offset: u64,
        size: u32,
    ) -> impl Future<Output = Result<ReplyData>> + Send {
        async { Err(NOSYS) }
    }

    fn write(
        &self,
        req: Request,
        ino: u64,
        fh: u64,
        offset: u64,
        data: Bytes,
        write_flags: u32,
        flags: u32,
    ) -> impl Future<Output = Result<ReplyWrite>> + Send {
        async { Err(NOSYS) }
    }

    fn statfs(&self, req: Request, ino: u64) -> impl Future<Output = Result<ReplyStatFs>> + Send {
        async { Err(NOSYS) }
    }

    fn release(
        &self,
        req: Request,
        ino: u64,
        fh: u64,
        flags: u32,
        lock_owner: u64,
        flush: bool,
    ) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }

    fn fsync(
        &self,
        req: Request,
        ino: u64,
        fh: u64,
        datasync: bool,
    ) -> impl Future<Output = Result<()>> + Send {
        async { Err(NOSYS) }
    }

    fn setxattr(
        &self,
        req: Request,
        ino: u64,
        name: &OsStr,
        value: &[u8],
        flags: u32,
        position: u32,
    ) -> impl Future<Output = Result<()>> + Send {
        async { Err(NOSYS) }
    }

    fn getxattr(
        &self,
        req: Request,
        ino: u64,
        name: &OsStr,
        size: u32,
    ) -> impl Future<Output = Result<ReplyXAttr>> + Send {
        async { Err(NOSYS) }
    }

    fn listxattr(
        &self,
        req: Request,
        ino: u64,
        size: u32,
    ) -> impl Future<Output = Result<ReplyXAttr>> + Send {
        async { Err(NOSYS) }
    }

    fn removexattr(
        &self,
        req: Request,
        ino: u64,
        name: &OsStr,
    ) -> impl Future<Output = Result<()>> + Send {
        async { Err(NOSYS) }
    }

    fn flush(
        &self,
        req: Request,
        ino: u64,
        fh: u64,
        lock_owner: u64,
    ) -> impl Future<Output = Result<()>> + Send {
        async { Err(NOSYS) }
    }

    fn opendir(
        &self,
        req: Request,
        ino: u64,
        flags: u32,
    ) -> impl Future<Output = Result<ReplyOpen>> + Send {
        async { Ok(ReplyOpen { fh: 0, flags: 0 }) }
    }

    /// The entries from `offset` on; the session layer takes as many as
    /// fit in the kernel's buffer and drops the rest of the stream.
    fn readdir<'a>(
        &'a self,
        req: Request,
        parent: u64,
        fh: u64,
        offset: i64,
    ) -> impl Future<
        Output = Result<ReplyDirectory<impl Stream<Item = Result<DirectoryEntry>> + Send + 'a>>,
    > + Send {
        async { Err::<ReplyDirectory<Empty<_>>, _>(NOSYS) }
    }

    /// As [`Filesystem::readdir`], with attributes: every entry the session
    /// layer sends with a non-zero inode counts as a lookup; the ones it
    /// pulls but cannot fit are dropped with the stream.
    fn readdirplus<'a>(
        &'a self,
        req: Request,
        parent: u64,
        fh: u64,
        offset: u64,
        lock_owner: u64,
    ) -> impl Future<
        Output = Result<
            ReplyDirectoryPlus<impl Stream<Item = Result<DirectoryEntryPlus>> + Send + 'a>,
        >,
    > + Send {
        async { Err::<ReplyDirectoryPlus<Empty<_>>, _>(NOSYS) }
    }

    fn releasedir(
        &self,
        req: Request,
        ino: u64,
        fh: u64,
        flags: u32,
    ) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }

    fn fsyncdir(
        &self,
        req: Request,
        ino: u64,
        fh: u64,
        datasync: bool,
    ) -> impl Future<Output = Result<()>> + Send {
        async { Err(NOSYS) }
    }

    fn getlk(
        &self,
        req: Request,
        ino: u64,
        fh: u64,
        lock_owner: u64,
        start: u64,
        end: u64,
        r#type: u32,
        pid: u32,
    ) -> impl Future<Output = Result<ReplyLock>> + Send {
        async { Err(NOSYS) }
    }

    /// SETLK, or SETLKW when `block`.
    fn setlk(
        &self,
        req: Request,
        ino: u64,
        fh: u64,
        lock_owner: u64,
        start: u64,
        end: u64,
        r#type: u32,
        pid: u32,
        block: bool,
    ) -> impl Future<Output = Result<()>> + Send {
        async { Err(NOSYS) }
    }

    fn access(&self, req: Request, ino: u64, mask: u32) -> impl Future<Output = Result<()>> + Send {
        async { Err(NOSYS) }
    }

    fn create(
        &self,
        req: Request,
        parent: u64,
        name: &OsStr,
        mode: u32,
        flags: u32,
    ) -> impl Future<Output = Result<ReplyCreated>> + Send {
        async { Err(NOSYS) }
    }

    /// The kernel asks to interrupt the request numbered `unique`, which
    /// is in service: read, and not yet answered (its call may not have
    /// started yet: hold the interrupt for it then). An error makes the
    /// session layer answer the INTERRUPT with it; EAGAIN makes the kernel
    /// send it again at once, so a file system that answers it spins.
    fn interrupt(&self, req: Request, unique: u64) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }

    /// The answer to a retrieve notification (see [`super::session`]): the pages
    /// the kernel had cached from `offset`.
    fn notify_reply(
        &self,
        req: Request,
        ino: u64,
        offset: u64,
        data: Bytes,
    ) -> impl Future<Output = Result<()>> + Send {
        async { Ok(()) }
    }
}
