//! Open files: open, read, write, flush, release, fsync.
//!
//! Each open walks a clone of the inode's fid and opens it (Tlopen with the
//! caller's flags). A FUSE read or write of up to 1 MiB is split at the
//! fid's I/O size (iounit, or msize - 24) into several Treads or Twrites in
//! flight at once; a short read is the end of the file.
//!
//! Direct I/O (`FOPEN_DIRECT_IO`): always with `cache=none`; with
//! `cache=loose` for files that may block or whose size means nothing (not
//! regular, append-only, exclusive-use, or size 0, as synthetic files
//! report): their reads must reach us one by one so that they can be
//! interrupted, and must not be cut at a size the kernel believes.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use fuse3::raw::prelude::*;
use ninep_client::wire::{Qid, Rgetattr};

use super::{Fs, IO_DEPTH};
use crate::config::CacheMode;
use crate::errno::Fail;
use crate::handles::{Handle, OpenFile, Origin, Reads};

/// `FOPEN_DIRECT_IO` of `<linux/fuse.h>` (fuse3 does not export it).
pub(crate) const FOPEN_DIRECT_IO: u32 = 1 << 0;

/// The open(2) flags passed on to the server (Tlopen and Tlcreate take
/// Linux's): access mode and the flags with a meaning there. `O_CREAT` and
/// `O_EXCL` are the kernel's business before FUSE open; `O_DIRECT` would
/// impose alignment on the server's I/O.
pub(crate) fn open_flags(flags: u32) -> u32 {
    let keep = libc::O_ACCMODE
        | libc::O_APPEND
        | libc::O_TRUNC
        | libc::O_SYNC
        | libc::O_DSYNC
        | libc::O_NOATIME
        | libc::O_NONBLOCK
        | libc::O_NOFOLLOW
        | libc::O_LARGEFILE;
    flags & keep as u32
}

impl Fs {
    /// Whether an open file of `qid` with attributes `a` gets direct I/O.
    pub(crate) fn direct_io(&self, qid: Qid, a: &Rgetattr) -> bool {
        match self.cfg.cache {
            CacheMode::None => true,
            CacheMode::Loose => {
                let regular = a.mode & libc::S_IFMT == libc::S_IFREG;
                !regular || a.size == 0 || qid.ty & (Qid::QTAPPEND | Qid::QTEXCL) != 0
            }
        }
    }

    /// Register an opened fid; the reply's `fh` and flags.
    pub(crate) fn open_reply(
        &self,
        file: ninep_client::File,
        direct: bool,
        origin: Origin,
        reads: Reads,
    ) -> ReplyOpen {
        let open = OpenFile {
            file,
            locked: AtomicBool::new(false),
            origin,
            reads: Arc::new(reads),
        };
        let fh = self.handles.insert(Handle::File(Arc::new(open)));
        let flags = if direct { FOPEN_DIRECT_IO } else { 0 };
        ReplyOpen { fh, flags }
    }

    pub(crate) async fn do_open(
        &self,
        req: &Request,
        ino: u64,
        flags: u32,
    ) -> Result<ReplyOpen, Fail> {
        self.readahead.fire();
        let writer = self.writer(ino, flags).await;
        let (file, qid) = self
            .with_fid(ino, self.who(req), |base| async move {
                let mut file = base.walk::<&[u8]>(&[]).await?;
                let qid = file.lopen(open_flags(flags)).await?;
                Ok((file, qid))
            })
            .await?;
        if flags & libc::O_TRUNC as u32 != 0 {
            self.cache.changed(ino);
        }
        let (direct, size) = match self.cfg.cache {
            CacheMode::None => (true, 0),
            CacheMode::Loose => {
                let a = self.attrs_via(ino, &file).await?;
                (self.direct_io(qid, &a), a.size)
            }
        };
        let origin = Origin::new(ino, self.who(req), open_flags(flags));
        let reads = self.reads(writer, direct, size);
        Ok(self.open_reply(file, direct, origin, reads))
    }

    fn open_file(&self, fh: u64) -> Result<Arc<OpenFile>, Fail> {
        self.handles.file(fh).ok_or(Fail(libc::EBADF))
    }

    /// A read (with the window around it, see `prefetch.rs`).
    pub(crate) async fn do_read(
        &self,
        ino: u64,
        fh: u64,
        offset: u64,
        size: u32,
    ) -> Result<ReplyData, Fail> {
        let h = self.open_file(fh)?;
        self.read_through(ino, &h, offset, size).await
    }

    pub(crate) async fn do_write(
        &self,
        ino: u64,
        fh: u64,
        offset: u64,
        bytes: &[u8],
    ) -> Result<ReplyWrite, Fail> {
        let h = self.open_file(fh)?;
        self.cache.changed(ino);
        self.gate.wrote(ino);
        h.file.write_at(offset, bytes, IO_DEPTH).await?;
        self.orphans.wrote(ino, offset + bytes.len() as u64);
        Ok(ReplyWrite {
            written: bytes.len() as u32,
        })
    }

    /// FUSE flush (each close(2)): 9P writes are already on the server;
    /// only the POSIX locks of `lock_owner` are released, as FUSE asks.
    pub(crate) async fn do_flush(&self, fh: u64, lock_owner: u64) -> Result<(), Fail> {
        let Some(h) = self.handles.file(fh) else {
            return Ok(());
        };
        if h.locked.load(Ordering::Relaxed) {
            self.unlock_owner(&h, lock_owner).await?;
        }
        Ok(())
    }

    /// The last close: clunk the open fid (at once if no request is using
    /// it, else when the last one ends).
    pub(crate) async fn do_release(&self, fh: u64) -> Result<(), Fail> {
        match self.handles.remove(fh) {
            Some(Handle::File(h)) => {
                let ino = h.origin.ino;
                // Only an orphan's last release looks through the handles.
                if self.orphans.holds(ino) && self.handles.any_on(ino).is_none() {
                    self.orphans.closed(ino);
                }
                if let Ok(open) = Arc::try_unwrap(h) {
                    open.file.clunk().await?;
                }
                Ok(())
            }
            Some(Handle::Dir(_)) | None => Err(Fail(libc::EBADF)),
        }
    }

    pub(crate) async fn do_fsync(&self, fh: u64, datasync: bool) -> Result<(), Fail> {
        let h = self.open_file(fh)?;
        Ok(h.file.fsync(datasync).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creation_and_direct_flags_stay_local() {
        let f = (libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_APPEND) as u32;
        assert_eq!(open_flags(f), (libc::O_RDWR | libc::O_APPEND) as u32);
        let f = (libc::O_WRONLY | libc::O_DIRECT | libc::O_TRUNC) as u32;
        assert_eq!(open_flags(f), (libc::O_WRONLY | libc::O_TRUNC) as u32);
    }
}
