//! Names and attributes: lookup, getattr, readlink, statfs.
//!
//! A lookup walks one name from the parent's fid to a new fid and asks for
//! its attributes; the inode table decides whether that is a new inode or
//! one the kernel knows. `.` and `..` are answered from the table: `..` is
//! never walked on the server (diod and unpfs both let `..` leave the
//! export from its root). A name already known costs one round trip: its
//! Tgetattr goes out with the Twalk, or is not needed at all with fresh
//! loose attributes (`Fs::look_up`); with `cache=loose` a name that does
//! not exist is remembered by the kernel for the TTL (a negative entry),
//! and in a directory whose every name we know (`complete.rs`) a missing
//! name costs no Twalk at all.

use crate::kernel::prelude::*;

use super::plus::no_attr;
use super::trait_impl::data;
use super::Fs;
use crate::cache::names_lifetime;
use crate::errno::Fail;
use crate::handles::Handle;
use crate::ino::Ino;

impl Fs {
    pub(crate) async fn do_lookup(
        &self,
        req: &Request,
        parent: Ino,
        name: &[u8],
    ) -> Result<ReplyEntry, Fail> {
        let uid = self.who(req);
        let target = match name {
            b"." => Some(parent),
            b".." => Some(self.inodes.parent(parent).ok_or(Fail(libc::ESTALE))?),
            _ => None,
        };
        if let Some(ino) = target {
            let a = self.attrs(ino, uid).await?;
            // The kernel counts this reply as a lookup of `ino` too.
            if !self.inodes.bump(ino) {
                return Err(Fail(libc::ESTALE));
            }
            return Ok(self.entry(ino, &a));
        }
        self.confirm_names(parent, uid).await;
        if self.cache.known.missing(parent, name, uid)
            || self.cache.missing.missing(parent, name, uid)
        {
            return Ok(self.negative());
        }
        let dir = self.fid(parent, uid).await?;
        let asking = self.cache.missing.asking();
        match self
            .look_up(parent, name, uid, &dir)
            .await
            .map_err(Fail::from)
        {
            Ok(entry) => Ok(entry),
            Err(Fail(libc::ENOENT)) if self.cfg.cache.page_cache() => {
                self.cache.missing.note(parent, name, uid, asking);
                Ok(self.negative())
            }
            Err(e) => Err(e),
        }
    }

    /// `cache=cto`: the names of `parent` known whole, past their TTL,
    /// trusted again if the directory's mtime is the one they were listed
    /// at (`complete.rs`): its attributes as trusted, or a Tgetattr.
    async fn confirm_names(&self, parent: Ino, uid: u32) {
        let Some(mtime) = self.cache.known.to_confirm(parent, uid) else {
            return;
        };
        match self.attrs(parent, uid).await {
            Ok(a) if (a.mtime_sec, a.mtime_nsec) == mtime => {
                self.cache.known.confirmed(parent, mtime)
            }
            _ => self.cache.known.forget(parent),
        }
    }

    /// A negative entry (node id 0): the kernel remembers for the TTL that
    /// the name does not exist, so a second look costs no Twalk. A file we
    /// create under that name replaces it at once in the kernel.
    fn negative(&self) -> ReplyEntry {
        ReplyEntry {
            ttl: names_lifetime(&self.cfg),
            attr: no_attr(FileType::RegularFile),
            generation: 0,
        }
    }

    pub(crate) async fn do_getattr(
        &self,
        req: &Request,
        ino: Ino,
        fh: Option<u64>,
    ) -> Result<ReplyAttr, Fail> {
        // An open handle's fid still works for a file unlinked since. The
        // kernel names the handle only for some calls (fstat sends none):
        // when the inode's name is gone, any handle open on it will do.
        let handle = fh.and_then(|fh| self.open_handle(fh));
        let a = match handle.as_ref().and_then(Handle::file) {
            Some(f) => self.attrs_via(ino, f).await?,
            None => match self.attrs(ino, self.who(req)).await {
                Err(gone @ Fail(libc::ENOENT | libc::ESTALE)) => match self.orphans.get(ino) {
                    Some(a) => a,
                    None => match self.handles.any_on(ino) {
                        Some(h) => match h.file() {
                            Some(f) => self.attrs_via(ino, f).await?,
                            None => return Err(gone),
                        },
                        None => return Err(gone),
                    },
                },
                r => r?,
            },
        };
        Ok(self.attr_reply(ino, &a))
    }

    /// Handle `fh`, whether file or directory.
    pub(crate) fn open_handle(&self, fh: u64) -> Option<Handle> {
        match self.handles.file(fh) {
            Some(f) => Some(Handle::File(f)),
            None => self.handles.dir(fh).map(Handle::Dir),
        }
    }

    pub(crate) async fn do_readlink(&self, req: &Request, ino: Ino) -> Result<ReplyData, Fail> {
        let uid = self.who(req);
        let target = self
            .with_fid(ino, uid, |f| async move { f.readlink().await })
            .await?;
        Ok(data(target.as_bytes().to_vec()))
    }

    pub(crate) async fn do_statfs(&self, req: &Request, ino: Ino) -> Result<ReplyStatFs, Fail> {
        let uid = self.who(req);
        let s = self
            .with_fid(ino, uid, |f| async move { f.statfs().await })
            .await?;
        Ok(ReplyStatFs {
            blocks: s.blocks,
            bfree: s.bfree,
            bavail: s.bavail,
            files: s.files,
            ffree: s.ffree,
            bsize: s.bsize,
            namelen: s.namelen,
            frsize: s.bsize,
        })
    }
}

impl Handle {
    /// The handle's opened fid (none for a directory not read from the
    /// server yet).
    pub(crate) fn file(&self) -> Option<&ninep_client::File> {
        match self {
            Handle::File(f) => Some(&f.file),
            Handle::Dir(d) => d.file.get(),
        }
    }
}
