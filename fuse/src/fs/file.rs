//! Open files: open, read, write, flush, release, fsync.
//!
//! An open opens the inode's own fid (Tlopen with the caller's flags) when
//! no request is using it: the handle takes it over, and the inode's next
//! use walks a new one. Otherwise it walks a clone first. With the page
//! cache the open's Tgetattr goes out along with the Tlopen, so a file's
//! open costs one round trip, and decides what becomes of the pages the
//! kernel holds (`kernel_view.rs`): kept if the file is unchanged since
//! they were read; with `cache=cto`, a file changed by someone else since
//! the kernel was given its attributes, or a name that now leads to
//! another file or none, is refused once with ESTALE so that the kernel
//! looks the name up again. A FUSE read or write of up to 1 MiB is split at the
//! fid's I/O size (iounit, or msize - 24) into several Treads or Twrites in
//! flight at once; a short read is the end of the file.
//!
//! Direct I/O (`FOPEN_DIRECT_IO`): always with `cache=none`; with
//! `cache=loose` for files that may block or whose size means nothing (not
//! regular, append-only, exclusive-use, or size 0, as synthetic files
//! report): their reads must reach us one by one so that they can be
//! interrupted, and must not be cut at a size the kernel believes.

use bytes::Bytes;
use std::sync::Arc;

use crate::kernel::prelude::*;
use ninep_client::wire::{Qid, Rgetattr};
use ninep_client::File;
use tracing::debug;

use super::{Fs, ATTR_MASK, IO_DEPTH};
use crate::config::CacheMode;
use crate::errno::Fail;
use crate::handles::{Handle, OpenFile, Origin, Reads};
use crate::ino::Ino;
use crate::kernel_view::OpenVerdict;

pub(crate) use crate::kernel::abi::{FOPEN_DIRECT_IO, FOPEN_KEEP_CACHE};

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

/// Open `file` with `flags` (and with `with_attrs` ask for its attributes
/// in the same round trip).
async fn open_now(
    mut file: File,
    flags: u32,
    with_attrs: bool,
) -> ninep_client::Result<(File, Qid, Option<Rgetattr>)> {
    if !with_attrs {
        let qid = file.lopen(flags).await?;
        return Ok((file, qid, None));
    }
    let (qid, a) = file.lopen_getattr(flags, ATTR_MASK).await;
    let qid = qid?;
    Ok((file, qid, Some(a?)))
}

impl Fs {
    /// Whether an open file of `qid` with attributes `a` gets direct I/O.
    pub(crate) fn direct_io(&self, qid: Qid, a: &Rgetattr) -> bool {
        match self.cfg.cache {
            CacheMode::None => true,
            CacheMode::Cto | CacheMode::Loose => {
                let regular = a.mode & libc::S_IFMT == libc::S_IFREG;
                !regular || a.size == 0 || qid.ty & (Qid::QTAPPEND | Qid::QTEXCL) != 0
            }
        }
    }

    /// Register an opened fid; the reply's `fh` and flags (`direct` I/O,
    /// or through the page cache; `keep`: its pages kept).
    pub(crate) fn open_reply(
        &self,
        file: ninep_client::File,
        (direct, keep): (bool, bool),
        origin: Origin,
        reads: Reads,
    ) -> ReplyOpen {
        let open = OpenFile {
            file,
            lock_owners: Default::default(),
            origin,
            reads: Arc::new(reads),
        };
        let fh = self.handles.insert(Handle::File(Arc::new(open)));
        let flags = match (direct, keep) {
            (true, _) => FOPEN_DIRECT_IO,
            (false, true) => FOPEN_KEEP_CACHE,
            (false, false) => 0,
        };
        ReplyOpen { fh, flags }
    }

    pub(crate) async fn do_open(
        &self,
        req: &Request,
        ino: Ino,
        flags: u32,
    ) -> Result<ReplyOpen, Fail> {
        self.readahead.fire();
        let writer = self.writer(ino, flags).await;
        let uid = self.who(req);
        let with_attrs = self.cfg.cache.page_cache();
        let (file, qid, fresh) = self
            .open_fid(ino, uid, open_flags(flags), with_attrs)
            .await?;
        let truncated = flags & libc::O_TRUNC as u32 != 0;
        if truncated {
            self.cache.changed(ino);
        }
        let (direct, keep, size) = match fresh {
            None => (true, false, 0),
            Some(a) => {
                let a = self.current(ino, qid, a, truncated)?;
                let direct = self.direct_io(qid, &a);
                let verdict = self
                    .cache
                    .view
                    .open(ino, &a, self.cfg.cache == CacheMode::Cto);
                if verdict == OpenVerdict::Stale {
                    debug!(%ino, "changed on the server since the kernel saw it: ESTALE");
                    return Err(Fail(libc::ESTALE));
                }
                (direct, verdict == OpenVerdict::Keep, a.size)
            }
        };
        let origin = Origin::new(ino, uid, open_flags(flags));
        let reads = self.reads(writer, direct, size);
        Ok(self.open_reply(file, (direct, keep), origin, reads))
    }

    /// The attributes `a` an open of `ino` found, kept; with `cache=cto`,
    /// checked to be the inode's file still (ESTALE if the name now leads
    /// to another file, as on a server that keeps paths in fids after a
    /// rename over it by someone else, or if the file lost its last name;
    /// the kernel then looks the name up again). `truncated`: the open
    /// truncated it, and `a` may be from before or after.
    fn current(&self, ino: Ino, qid: Qid, a: Rgetattr, truncated: bool) -> Result<Rgetattr, Fail> {
        if self.cfg.cache == CacheMode::Cto {
            let ours = self.inodes.qid(ino).map(|q| q.path);
            let unlinked = a.nlink == 0 && !self.orphans.holds(ino);
            if ours != Some(qid.path) || unlinked {
                debug!(%ino, "the name leads elsewhere now: ESTALE");
                return Err(Fail(libc::ESTALE));
            }
        }
        if !truncated {
            self.inodes.set_nlink(ino, a.nlink);
            self.cache.attrs.put(ino, &a);
        }
        Ok(a)
    }

    /// An opened fid of `ino` for `uid` (Tlopen with `flags`), its qid,
    /// and with `with_attrs` its attributes, asked for in the same round
    /// trip. The inode's own fid is opened when no request is using it
    /// (one round trip; the one before it walks it if the inode has none);
    /// else a clone of it is walked first.
    async fn open_fid(
        &self,
        ino: Ino,
        uid: u32,
        flags: u32,
        with_attrs: bool,
    ) -> Result<(File, Qid, Option<Rgetattr>), Fail> {
        let cto = self.cfg.cache == CacheMode::Cto;
        let mut tries = 0;
        loop {
            tries += 1;
            let file = match self.own_fid(ino, uid) {
                Some(own) => own,
                None => {
                    let shared = self.fid(ino, uid).await?;
                    if Arc::strong_count(&shared) > 2 {
                        // In use by another request besides the table.
                        shared.walk::<&[u8]>(&[]).await.map_err(Fail::from)?
                    } else {
                        drop(shared);
                        match self.own_fid(ino, uid) {
                            Some(own) => own,
                            None => self.clone_fid(ino, uid).await?,
                        }
                    }
                }
            };
            match open_now(file, flags, with_attrs).await.map_err(Fail::from) {
                // The path the fid was walked by is gone (a server that
                // keeps paths in fids): cto asks the kernel to look the
                // name up again; the other modes walk once more from the
                // inode's current name.
                Err(Fail(libc::ENOENT | libc::ESTALE)) if cto => return Err(Fail(libc::ESTALE)),
                Err(Fail(libc::ENOENT | libc::ESTALE)) if tries == 1 => continue,
                r => return r,
            }
        }
    }

    /// A clone of the inode's fid for `uid` (a Twalk).
    async fn clone_fid(&self, ino: Ino, uid: u32) -> Result<File, Fail> {
        let base = self.fid(ino, uid).await?;
        Ok(base.walk::<&[u8]>(&[]).await?)
    }

    /// The inode's own fid for `uid`, taken out of the table, if no
    /// request is using it and it is of the current connection.
    fn own_fid(&self, ino: Ino, uid: u32) -> Option<File> {
        self.inodes.take_fid(ino, uid).filter(|f| self.conn.owns(f))
    }

    fn open_file(&self, fh: u64) -> Result<Arc<OpenFile>, Fail> {
        self.handles.file(fh).ok_or(Fail(libc::EBADF))
    }

    /// A read (with the window around it, see `prefetch.rs`).
    pub(crate) async fn do_read(
        &self,
        ino: Ino,
        fh: u64,
        offset: u64,
        size: u32,
    ) -> Result<ReplyData, Fail> {
        let h = self.open_file(fh)?;
        self.read_through(ino, &h, offset, size).await
    }

    pub(crate) async fn do_write(
        &self,
        ino: Ino,
        fh: u64,
        offset: u64,
        bytes: Bytes,
    ) -> Result<ReplyWrite, Fail> {
        let h = self.open_file(fh)?;
        self.cache.changed(ino);
        self.gate.wrote(ino);
        let len = bytes.len() as u64;
        h.file.write_bytes_at(offset, bytes, IO_DEPTH).await?;
        self.orphans.wrote(ino, offset + len);
        Ok(ReplyWrite {
            written: len as u32,
        })
    }

    /// FUSE flush (each close(2)): 9P writes are already on the server;
    /// only the POSIX locks of `lock_owner` are released, as FUSE asks.
    pub(crate) async fn do_flush(&self, fh: u64, lock_owner: u64) -> Result<(), Fail> {
        let Some(h) = self.handles.file(fh) else {
            return Ok(());
        };
        if h.lock_owners.take(lock_owner) {
            self.unlock_owner(&h).await?;
        }
        Ok(())
    }

    /// The last close: clunk the open fid (at once if no request is using
    /// it, else when the last one ends).
    pub(crate) async fn do_release(&self, fh: u64) -> Result<(), Fail> {
        match self.handles.remove(fh) {
            Some(Handle::File(h)) => {
                let ino = h.origin.ino;
                if let Some(s) = &h.reads.stream {
                    s.clear();
                }
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
