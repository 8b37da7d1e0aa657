//! Attributes over 9P2000(.u): getattr from Tstat, setattr and fsync as
//! Twstat, readlink from the .u extension, and a made-up statfs.

use tracing::debug;

use super::convert::{self, Unsendable};
use super::{errno, refuse};
use crate::error::Result;
use crate::file::{File, SetAttr};
use crate::wire::{setattr, Rgetattr, Rstatfs, Stat};

/// `V9FS_MAGIC`: the statfs type of a 9P file system.
const V9FS_MAGIC: u32 = 0x0102_1997;
/// The longest name reported by the made-up statfs.
const NAME_MAX: u32 = 255;

impl File {
    /// getattr: the stat, converted.
    pub(crate) async fn getattr_by_stat(&self) -> Result<Rgetattr> {
        Ok(convert::attr_of(&self.stat().await?))
    }

    /// setattr: one Twstat (after a Tstat when the mode changes, whose
    /// `DM*` type bits must be sent back unchanged).
    pub(crate) async fn setattr_by_wstat(&self, a: &SetAttr) -> Result<()> {
        let cur_mode = match a.valid & setattr::MODE {
            0 => 0,
            _ => self.stat().await?.mode,
        };
        match convert::wstat_of(a, cur_mode, self.unix()) {
            Ok(Some(s)) => self.wstat(s).await,
            Ok(None) => Ok(()),
            Err(Unsendable::NoName(id)) => Err(refuse(
                errno::EINVAL,
                &format!("no local name for id {id} to send in a 9P2000 wstat"),
            )),
        }
    }

    /// fsync: a Twstat of nothing, which stat(5) makes a request to commit
    /// the file to stable storage. A server that refuses it has nothing
    /// to commit (many in-memory servers reject a wstat they do not
    /// understand), so its refusal is logged, not passed on.
    pub(crate) async fn fsync_by_wstat(&self) -> Result<()> {
        if let Err(e) = self.wstat(Stat::dont_touch(self.unix())).await {
            debug!(fid = ?self.fid, "the server refused a sync wstat: {e}");
        }
        Ok(())
    }

    /// readlink: a 9P2000.u symlink's target is its stat's extension.
    pub(crate) async fn readlink_by_stat(&self) -> Result<crate::wire::NineStr> {
        let s = self.stat().await?;
        match s.ext {
            Some(e) if s.mode & Stat::DMSYMLINK != 0 => Ok(e.extension),
            _ => Err(refuse(errno::EINVAL, "not a symbolic link")),
        }
    }

    /// statfs: 9P2000 has no such message; the numbers say "unknown" (0
    /// blocks, 0 files), as a network file system that cannot tell.
    pub(crate) fn statfs_made_up(&self) -> Rstatfs {
        Rstatfs {
            ty: V9FS_MAGIC,
            bsize: self.io_size().clamp(512, 1 << 20),
            blocks: 0,
            bfree: 0,
            bavail: 0,
            files: 0,
            ffree: 0,
            fsid: 0,
            namelen: NAME_MAX,
        }
    }
}
