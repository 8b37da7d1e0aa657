//! Removing and moving names: unlink, rmdir, rename.
//!
//! 9P2000.L has two ways to do each, and servers have one or the other:
//! - unlink/rmdir: Tunlinkat (by name in the directory), or a walk to the
//!   file and Tremove (diod 1.0.24 lacks Tunlinkat; unpfs lacks Tremove);
//! - rename: Trenameat (by names), or Trename of a fid walked to the
//!   source (diod 1.0.24 lacks Trenameat; unpfs lacks Trename).
//!
//! The by-name form is tried first; when the server answers that it does
//! not have it (EOPNOTSUPP or ENOSYS) the mount remembers, and uses the
//! other form from then on. A Tremove goes through the inode's own fid
//! when that can only name this file (one Tremove instead of a Twalk, a
//! Tremove and a Tclunk of the inode's fid, dropped with the name).
//!
//! Afterwards the inode table learns the change, and the moved file's fids
//! (and those below it) are dropped: a server may hold a fid by its path
//! (diod does), which the rename left behind, so they are walked again from
//! the new name when next needed.

use std::future::Future;

use crate::kernel::prelude::*;
use ninep_client::File;

use super::{unsupported, Cap, Fs, ATTR_MASK};
use crate::errno::Fail;
use crate::ino::Ino;
use crate::names::component;

/// `AT_REMOVEDIR` for Tunlinkat.
const AT_REMOVEDIR: u32 = 0x200;
/// renameat2 flags.
const RENAME_NOREPLACE: u32 = 1;

/// Try the by-name form of an operation unless the server is known to
/// lack it: `Ok(true)` when done, `Ok(false)` when the other form must do.
async fn by_name(
    cap: &Cap,
    op: impl Future<Output = ninep_client::Result<()>>,
) -> Result<bool, Fail> {
    if !cap.maybe() {
        return Ok(false);
    }
    match op.await.map_err(Fail::from) {
        Ok(()) => {
            cap.learn(true);
            Ok(true)
        }
        Err(e) if unsupported(&e) => {
            cap.learn(false);
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// The renameat2 flags we can honour: none, or RENAME_NOREPLACE, which
/// 9P cannot make atomic, so it is checked just before (EEXIST).
async fn check_rename_flags(to: &File, new_name: &[u8], flags: u32) -> Result<(), Fail> {
    match flags {
        0 => Ok(()),
        RENAME_NOREPLACE => match to.walk(&[new_name]).await.map_err(Fail::from) {
            Ok(_) => Err(Fail(libc::EEXIST)),
            Err(Fail(libc::ENOENT)) => Ok(()),
            Err(e) => Err(e),
        },
        _ => Err(Fail(libc::EINVAL)),
    }
}

/// Tremove `file` (the fid is clunked whatever the answer) if it is the
/// kind of file the caller means to remove.
async fn remove(file: File, is_dir: bool) -> Result<(), Fail> {
    match (is_dir, file.qid().is_dir()) {
        (true, false) => Err(Fail(libc::ENOTDIR)),
        (false, true) => Err(Fail(libc::EISDIR)),
        _ => Ok(file.remove().await?),
    }
}

impl Fs {
    /// Without Tunlinkat: Tremove the inode's own fid when it can name
    /// only this file (see `Inodes::take_sole_fid`), which saves the walk
    /// to a fid of its own and that fid's Tclunk. `Ok(false)` when there
    /// is no such fid, or when the server no longer finds the file by it
    /// (renamed by someone else): then a fresh walk must do.
    async fn remove_by_own_fid(
        &self,
        parent: Ino,
        name: &[u8],
        uid: u32,
        is_dir: bool,
    ) -> Result<bool, Fail> {
        let Some((file, fmt)) = self.inodes.take_sole_fid(parent, name, uid) else {
            return Ok(false);
        };
        match (is_dir, fmt == libc::S_IFDIR) {
            (true, false) => return Err(Fail(libc::ENOTDIR)),
            (false, true) => return Err(Fail(libc::EISDIR)),
            _ => {}
        }
        match file.remove().await.map_err(Fail::from) {
            Ok(()) => Ok(true),
            Err(Fail(libc::ENOENT | libc::ESTALE)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Remove `name` from `parent` on the server, by whichever message the
    /// server has.
    async fn remove_on_server(
        &self,
        parent: Ino,
        name: &[u8],
        uid: u32,
        is_dir: bool,
    ) -> Result<(), Fail> {
        let dir = self.fid(parent, uid).await?;
        let flags = if is_dir { AT_REMOVEDIR } else { 0 };
        if !by_name(&self.caps.unlinkat, dir.unlinkat(name, flags)).await?
            && !self.remove_by_own_fid(parent, name, uid, is_dir).await?
        {
            remove(dir.walk(&[name]).await?, is_dir).await?;
        }
        Ok(())
    }

    pub(crate) async fn do_remove(
        &self,
        req: &Request,
        parent: Ino,
        name: &[u8],
        is_dir: bool,
    ) -> Result<(), Fail> {
        let name = component(name)?;
        let uid = self.who(req);
        // An open file about to lose a name may lose its last: keep what
        // fstat must still answer (`orphans.rs`).
        let open = match is_dir {
            true => None,
            false => self
                .inodes
                .child(parent, name)
                .and_then(|c| Some((c, self.handles.any_on(c)?))),
        };
        let before = match &open {
            Some((c, h)) => match h.file() {
                Some(f) => f.getattr(ATTR_MASK).await.ok().map(|a| (*c, a)),
                None => None,
            },
            None => None,
        };
        let dying = self.inodes.dying(parent, name);
        if let Err(e) = self.remove_on_server(parent, name, uid, is_dir).await {
            if let Some(d) = dying {
                self.inodes.revive(d);
            }
            self.cache.unsure(parent);
            return Err(e);
        }
        let victim = self.inodes.unlinked(parent, name);
        self.cache.removed(parent, name, victim, is_dir);
        if let Some((c, a)) = before {
            if a.nlink <= 1 {
                self.orphans.adopt(c, a);
            }
        }
        Ok(())
    }

    pub(crate) async fn do_rename(
        &self,
        req: &Request,
        parent: Ino,
        name: &[u8],
        new_parent: Ino,
        new_name: &[u8],
        flags: u32,
    ) -> Result<(), Fail> {
        let (name, new_name) = (component(name)?, component(new_name)?);
        let uid = self.who(req);
        // What the target names is replaced (see `Inodes::dying`).
        let dying = self.inodes.dying(new_parent, new_name);
        let done = self
            .rename_on_server(parent, name, new_parent, new_name, flags, uid)
            .await;
        if let Err(e) = done {
            if let Some(d) = dying {
                self.inodes.revive(d);
            }
            self.cache.unsure(parent);
            self.cache.unsure(new_parent);
            return Err(e);
        }
        let (moved, replaced) = self.inodes.renamed(parent, name, new_parent, new_name);
        self.cache
            .renamed((parent, name), (new_parent, new_name), moved, replaced);
        Ok(())
    }

    /// Rename on the server, by whichever message the server has.
    async fn rename_on_server(
        &self,
        parent: Ino,
        name: &[u8],
        new_parent: Ino,
        new_name: &[u8],
        flags: u32,
        uid: u32,
    ) -> Result<(), Fail> {
        let from = self.fid(parent, uid).await?;
        let to = self.fid(new_parent, uid).await?;
        check_rename_flags(&to, new_name, flags).await?;
        let renameat = from.renameat(name, &to, new_name);
        if !by_name(&self.caps.renameat, renameat).await? {
            let file = from.walk(&[name]).await?;
            file.rename(&to, new_name).await?;
        }
        Ok(())
    }
}
