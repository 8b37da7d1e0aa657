//! Moving and removing names over 9P2000(.u).
//!
//! A 9P2000 rename is a Twstat of the name: it stays in its directory, so
//! a move to another directory is EXDEV (and `mv` copies instead, as
//! across file systems). stat(5) refuses a name that exists; rename(2)
//! replaces it, so an existing target of the same kind is removed first
//! (not atomic: a crash between the two leaves the target gone).

use super::convert;
use super::{errno, refuse};
use crate::error::Result;
use crate::file::File;
use crate::wire::Stat;

/// `AT_REMOVEDIR` of Tunlinkat.
const AT_REMOVEDIR: u32 = 0x200;

impl File {
    /// renameat: `old` in this directory to `new` in `newdir`.
    pub(crate) async fn renameat_by_wstat(
        &self,
        old: &[u8],
        newdir: &File,
        new: &[u8],
    ) -> Result<()> {
        if self.fid != newdir.fid && self.qid.path != newdir.qid.path {
            return Err(cross_directory());
        }
        let file = self.walk(&[old]).await?;
        self.rename_within(&file, old, new).await
    }

    /// rename: this file to `new` in `dir`, if `dir` is where it is now
    /// (its `..`).
    pub(crate) async fn rename_by_wstat(&self, dir: &File, new: &[u8]) -> Result<()> {
        let parent = self.walk(&[b"..".as_slice()]).await?;
        let same = parent.qid.path == dir.qid.path;
        parent.clunk().await?;
        if !same {
            return Err(cross_directory());
        }
        let old = self.stat().await?.name;
        dir.rename_within(self, old.as_bytes(), new).await
    }

    /// Rename `file`, named `old` in this directory, to `new` here.
    async fn rename_within(&self, file: &File, old: &[u8], new: &[u8]) -> Result<()> {
        if old == new {
            return Ok(());
        }
        // Whatever stops the walk (most often: no such file) leaves the
        // decision to the Twstat.
        if let Ok(victim) = self.walk(&[new]).await {
            if victim.qid.path == file.qid.path {
                // Two names of one file: rename(2) does nothing.
                return victim.clunk().await;
            }
            match (file.is_dir_by_stat().await?, victim.is_dir_by_stat().await?) {
                (false, true) => return Err(refuse(errno::EISDIR, "the target is a directory")),
                (true, false) => {
                    return Err(refuse(errno::ENOTDIR, "the target is not a directory"))
                }
                _ => victim.remove().await?,
            }
        }
        let name = crate::file::name(new)?;
        file.wstat(convert::rename_stat(name, self.unix())).await
    }

    /// unlinkat: walk to `name`, check its kind against `flags`, Tremove.
    pub(crate) async fn unlinkat_by_remove(&self, name: &[u8], flags: u32) -> Result<()> {
        let file = self.walk(&[name]).await?;
        match (flags & AT_REMOVEDIR != 0, file.is_dir_by_stat().await?) {
            (true, false) => Err(refuse(errno::ENOTDIR, "not a directory")),
            (false, true) => Err(refuse(errno::EISDIR, "is a directory")),
            _ => file.remove().await,
        }
    }
}

impl File {
    /// Whether this is a directory, by its stat's DMDIR: some servers
    /// (aio9p's examples) give a directory made by Tcreate a file's qid.
    async fn is_dir_by_stat(&self) -> Result<bool> {
        Ok(self.stat().await?.mode & Stat::DMDIR != 0)
    }
}

fn cross_directory() -> crate::error::Error {
    refuse(
        errno::EXDEV,
        "9P2000 renames only within a directory (Twstat of the name)",
    )
}
