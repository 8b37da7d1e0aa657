//! `impl kernel::Filesystem for Fs`: one line per operation, each
//! running the operation's work (in the submodules) under
//! [`Fs::run`](super::Fs::run). Operations that never reach the server
//! (init, forget, interrupt) are answered here.

use crate::ino::Ino;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use crate::kernel::prelude::SetAttr;
use crate::kernel::prelude::*;
use crate::kernel::Result;
use bytes::Bytes;
use futures::stream::Stream;

use super::Fs;
use crate::interrupt::Op;

/// Largest FUSE write the kernel may send (it also bounds direct reads).
const MAX_WRITE: u32 = 1 << 20;
/// FUSE requests the kernel may have in the background (readahead,
/// async direct I/O) at once.
const MAX_BACKGROUND: u16 = 64;

impl Filesystem for Fs {
    async fn init(&self, _req: Request) -> Result<ReplyInit> {
        Ok(ReplyInit {
            max_write: MAX_WRITE,
            max_background: MAX_BACKGROUND,
            congestion_threshold: MAX_BACKGROUND * 3 / 4,
            // A file opened with direct I/O (cache=none, or a file whose
            // size means nothing) can still be mapped shared and written.
            direct_io_allow_mmap: true,
            // FUSE over io_uring where the kernel offers it and `-o uring`
            // asks for it.
            over_io_uring: self.cfg.uring,
        })
    }

    async fn destroy(&self, _req: Request) {
        self.handles.clear();
    }

    async fn lookup(&self, req: Request, parent: u64, name: &OsStr) -> Result<ReplyEntry> {
        let parent = Ino::from_kernel(parent);
        self.run_retry(&req, Op::new("lookup", parent), || {
            self.do_lookup(&req, parent, name.as_bytes())
        })
        .await
    }

    async fn forget(&self, _req: Request, ino: u64, nlookup: u64) {
        let ino = Ino::from_kernel(ino);
        self.inodes.forget(ino, nlookup);
    }

    async fn batch_forget(&self, _req: Request, inodes: &[(u64, u64)]) {
        for &(ino, n) in inodes {
            self.inodes.forget(Ino::from_kernel(ino), n);
        }
    }

    async fn getattr(
        &self,
        req: Request,
        ino: u64,
        fh: Option<u64>,
        _flags: u32,
    ) -> Result<ReplyAttr> {
        let ino = Ino::from_kernel(ino);
        self.run_retry(&req, Op::new("getattr", ino), || {
            self.do_getattr(&req, ino, fh)
        })
        .await
    }

    async fn setattr(
        &self,
        req: Request,
        ino: u64,
        fh: Option<u64>,
        set: SetAttr,
    ) -> Result<ReplyAttr> {
        let ino = Ino::from_kernel(ino);
        self.run(
            &req,
            Op::new("setattr", ino),
            self.do_setattr(&req, ino, fh, set),
        )
        .await
    }

    async fn readlink(&self, req: Request, ino: u64) -> Result<ReplyData> {
        let ino = Ino::from_kernel(ino);
        self.run_retry(&req, Op::new("readlink", ino), || {
            self.do_readlink(&req, ino)
        })
        .await
    }

    async fn symlink(
        &self,
        req: Request,
        parent: u64,
        name: &OsStr,
        link: &OsStr,
    ) -> Result<ReplyEntry> {
        let parent = Ino::from_kernel(parent);
        let work = self.do_symlink(&req, parent, name.as_bytes(), link.as_bytes());
        self.run(&req, Op::new("symlink", parent), work).await
    }

    async fn mknod(
        &self,
        req: Request,
        parent: u64,
        name: &OsStr,
        mode: u32,
        rdev: u32,
    ) -> Result<ReplyEntry> {
        let parent = Ino::from_kernel(parent);
        let work = self.do_mknod(&req, parent, name.as_bytes(), mode, rdev);
        self.run(&req, Op::new("mknod", parent), work).await
    }

    async fn mkdir(
        &self,
        req: Request,
        parent: u64,
        name: &OsStr,
        mode: u32,
        _umask: u32,
    ) -> Result<ReplyEntry> {
        let parent = Ino::from_kernel(parent);
        let work = self.do_mkdir(&req, parent, name.as_bytes(), mode);
        self.run(&req, Op::new("mkdir", parent), work).await
    }

    async fn unlink(&self, req: Request, parent: u64, name: &OsStr) -> Result<()> {
        let parent = Ino::from_kernel(parent);
        self.run(
            &req,
            Op::new("unlink", parent),
            self.do_remove(&req, parent, name.as_bytes(), false),
        )
        .await
    }

    async fn rmdir(&self, req: Request, parent: u64, name: &OsStr) -> Result<()> {
        let parent = Ino::from_kernel(parent);
        self.run(
            &req,
            Op::new("rmdir", parent),
            self.do_remove(&req, parent, name.as_bytes(), true),
        )
        .await
    }

    async fn rename(
        &self,
        req: Request,
        parent: u64,
        name: &OsStr,
        new_parent: u64,
        new_name: &OsStr,
        flags: u32,
    ) -> Result<()> {
        let parent = Ino::from_kernel(parent);
        let new_parent = Ino::from_kernel(new_parent);
        let (name, new_name) = (name.as_bytes(), new_name.as_bytes());
        let work = self.do_rename(&req, parent, name, new_parent, new_name, flags);
        self.run(&req, Op::new("rename", parent), work).await
    }

    async fn link(
        &self,
        req: Request,
        ino: u64,
        new_parent: u64,
        new_name: &OsStr,
    ) -> Result<ReplyEntry> {
        let ino = Ino::from_kernel(ino);
        let new_parent = Ino::from_kernel(new_parent);
        let work = self.do_link(&req, ino, new_parent, new_name.as_bytes());
        self.run(&req, Op::new("link", ino), work).await
    }

    async fn open(&self, req: Request, ino: u64, flags: u32) -> Result<ReplyOpen> {
        let ino = Ino::from_kernel(ino);
        // Opened twice, a truncating open could cut what was written in
        // between: not retried.
        if flags & libc::O_TRUNC as u32 != 0 {
            return self
                .run(&req, Op::new("open", ino), self.do_open(&req, ino, flags))
                .await;
        }
        self.run_retry(&req, Op::new("open", ino), || {
            self.do_open(&req, ino, flags)
        })
        .await
    }

    async fn read(
        &self,
        req: Request,
        ino: u64,
        fh: u64,
        offset: u64,
        size: u32,
    ) -> Result<ReplyData> {
        let ino = Ino::from_kernel(ino);
        self.run_retry(&req, Op::new("read", ino), || {
            self.do_read(ino, fh, offset, size)
        })
        .await
    }

    async fn write(
        &self,
        req: Request,
        ino: u64,
        fh: u64,
        offset: u64,
        data: Bytes,
        _write_flags: u32,
        _flags: u32,
    ) -> Result<ReplyWrite> {
        let ino = Ino::from_kernel(ino);
        self.run(
            &req,
            Op::new("write", ino),
            self.do_write(ino, fh, offset, data),
        )
        .await
    }

    async fn statfs(&self, req: Request, ino: u64) -> Result<ReplyStatFs> {
        let ino = Ino::from_kernel(ino);
        self.run_retry(&req, Op::new("statfs", ino), || self.do_statfs(&req, ino))
            .await
    }

    async fn release(
        &self,
        req: Request,
        ino: u64,
        fh: u64,
        _flags: u32,
        _lock_owner: u64,
        _flush: bool,
    ) -> Result<()> {
        let ino = Ino::from_kernel(ino);
        self.run_without_waiting(&req, Op::new("release", ino), self.do_release(fh))
            .await
    }

    async fn fsync(&self, req: Request, ino: u64, fh: u64, datasync: bool) -> Result<()> {
        let ino = Ino::from_kernel(ino);
        self.run(&req, Op::new("fsync", ino), self.do_fsync(fh, datasync))
            .await
    }

    async fn setxattr(
        &self,
        req: Request,
        ino: u64,
        name: &OsStr,
        value: &[u8],
        flags: u32,
        _position: u32,
    ) -> Result<()> {
        let ino = Ino::from_kernel(ino);
        let work = self.do_setxattr(&req, ino, name.as_bytes(), value, flags);
        self.run(&req, Op::new("setxattr", ino), work).await
    }

    async fn getxattr(
        &self,
        req: Request,
        ino: u64,
        name: &OsStr,
        size: u32,
    ) -> Result<ReplyXAttr> {
        let ino = Ino::from_kernel(ino);
        let work = || self.do_getxattr(&req, ino, name.as_bytes(), size);
        self.run_retry(&req, Op::new("getxattr", ino), work).await
    }

    async fn listxattr(&self, req: Request, ino: u64, size: u32) -> Result<ReplyXAttr> {
        let ino = Ino::from_kernel(ino);
        self.run_retry(&req, Op::new("listxattr", ino), || {
            self.do_listxattr(&req, ino, size)
        })
        .await
    }

    async fn removexattr(&self, req: Request, ino: u64, name: &OsStr) -> Result<()> {
        let ino = Ino::from_kernel(ino);
        let work = self.do_removexattr(&req, ino, name.as_bytes());
        self.run(&req, Op::new("removexattr", ino), work).await
    }

    async fn flush(&self, req: Request, ino: u64, fh: u64, lock_owner: u64) -> Result<()> {
        let ino = Ino::from_kernel(ino);
        self.run_without_waiting(&req, Op::new("flush", ino), self.do_flush(fh, lock_owner))
            .await
    }

    async fn opendir(&self, req: Request, ino: u64, _flags: u32) -> Result<ReplyOpen> {
        let ino = Ino::from_kernel(ino);
        self.run_retry(&req, Op::new("opendir", ino), || self.do_opendir(&req, ino))
            .await
    }

    async fn readdir<'a>(
        &'a self,
        req: Request,
        parent: u64,
        fh: u64,
        offset: i64,
    ) -> Result<ReplyDirectory<impl Stream<Item = Result<DirectoryEntry>> + Send + 'a>> {
        let parent = Ino::from_kernel(parent);
        self.run_retry(&req, Op::new("readdir", parent), || {
            self.do_readdir(parent, fh, offset)
        })
        .await
    }

    async fn readdirplus<'a>(
        &'a self,
        req: Request,
        parent: u64,
        fh: u64,
        offset: u64,
        _lock_owner: u64,
    ) -> Result<ReplyDirectoryPlus<impl Stream<Item = Result<DirectoryEntryPlus>> + Send + 'a>>
    {
        let parent = Ino::from_kernel(parent);
        self.run_retry(&req, Op::new("readdirplus", parent), || {
            self.do_readdirplus(parent, fh, offset)
        })
        .await
    }

    async fn releasedir(&self, req: Request, ino: u64, fh: u64, _flags: u32) -> Result<()> {
        let ino = Ino::from_kernel(ino);
        self.run_without_waiting(&req, Op::new("releasedir", ino), self.do_releasedir(fh))
            .await
    }

    async fn fsyncdir(&self, req: Request, ino: u64, fh: u64, datasync: bool) -> Result<()> {
        let ino = Ino::from_kernel(ino);
        self.run(
            &req,
            Op::new("fsyncdir", ino),
            self.do_fsyncdir(fh, datasync),
        )
        .await
    }

    async fn access(&self, req: Request, ino: u64, mask: u32) -> Result<()> {
        let ino = Ino::from_kernel(ino);
        self.run_retry(&req, Op::new("access", ino), || {
            self.do_access(&req, ino, mask)
        })
        .await
    }

    async fn create(
        &self,
        req: Request,
        parent: u64,
        name: &OsStr,
        mode: u32,
        flags: u32,
    ) -> Result<ReplyCreated> {
        let parent = Ino::from_kernel(parent);
        let work = self.do_create(&req, parent, name.as_bytes(), mode, flags);
        self.run(&req, Op::new("create", parent), work).await
    }

    async fn getlk(
        &self,
        req: Request,
        ino: u64,
        fh: u64,
        _lock_owner: u64,
        start: u64,
        end: u64,
        r#type: u32,
        pid: u32,
    ) -> Result<ReplyLock> {
        let ino = Ino::from_kernel(ino);
        self.run(
            &req,
            Op::new("getlk", ino),
            self.do_getlk(fh, start, end, r#type, pid),
        )
        .await
    }

    async fn setlk(
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
    ) -> Result<()> {
        let ino = Ino::from_kernel(ino);
        let l = super::lock::spec(r#type, start, end, pid);
        self.run(
            &req,
            Op::new("setlk", ino),
            self.do_setlk(req.unique, fh, lock_owner, l, block),
        )
        .await
    }

    async fn interrupt(&self, _req: Request, unique: u64) -> Result<()> {
        self.intr.interrupt(unique);
        Ok(())
    }
}

/// A reply's bytes (keeps `Bytes` in the imports of the submodules simple).
pub(crate) fn data(b: Vec<u8>) -> ReplyData {
    Bytes::from(b).into()
}
