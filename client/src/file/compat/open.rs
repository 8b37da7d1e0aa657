//! Opening and making files over 9P2000(.u): Topen and Tcreate.
//!
//! Tcreate turns the fid it is sent on into the new file; mkdir, symlink,
//! mknod and link must leave the directory's fid alone, so they create
//! through a clone of it, clunked afterwards.

use super::convert::{self, S_IFBLK, S_IFCHR, S_IFIFO, S_IFMT, S_IFREG, S_IFSOCK};
use super::{errno, refuse};
use crate::error::Result;
use crate::file::File;
use crate::wire::{omode, Qid, Stat};

impl File {
    /// lopen: Topen with the access mode and OTRUNC of `flags`.
    pub(crate) async fn lopen_by_open(&mut self, flags: u32) -> Result<Qid> {
        self.open(convert::omode_of(flags)).await
    }

    /// lcreate: Tcreate of a plain file, opened as `flags` say.
    pub(crate) async fn lcreate_by_create(
        &mut self,
        name: &[u8],
        flags: u32,
        mode: u32,
    ) -> Result<Qid> {
        let perm = convert::perm_of(mode, self.unix());
        self.create(name, perm, convert::omode_of(flags), b"").await
    }

    /// Create `name` here through a clone of this directory's fid.
    async fn create_beside(&self, name: &[u8], perm: u32, extension: &[u8]) -> Result<Qid> {
        let mut clone = self.walk::<&[u8]>(&[]).await?;
        let made = clone.create(name, perm, omode::OREAD, extension).await;
        let clunked = clone.clunk().await;
        let qid = made?;
        clunked?;
        Ok(qid)
    }

    /// mkdir: Tcreate with DMDIR.
    pub(crate) async fn mkdir_by_create(&self, name: &[u8], mode: u32) -> Result<Qid> {
        let perm = Stat::DMDIR | convert::perm_of(mode, self.unix());
        self.create_beside(name, perm, b"").await
    }

    /// symlink: Tcreate with DMSYMLINK and the target as extension (.u).
    pub(crate) async fn symlink_by_create(&self, name: &[u8], target: &[u8]) -> Result<Qid> {
        if !self.unix() {
            return Err(refuse(errno::EPERM, "9P2000 has no symbolic links"));
        }
        self.create_beside(name, Stat::DMSYMLINK | 0o777, target)
            .await
    }

    /// mknod: a regular file in any dialect; devices, FIFOs and sockets
    /// with their .u bits (and `b|c MAJOR MINOR` for devices).
    pub(crate) async fn mknod_by_create(
        &self,
        name: &[u8],
        mode: u32,
        major: u32,
        minor: u32,
    ) -> Result<Qid> {
        let perm = convert::perm_of(mode, self.unix());
        let fmt = mode & S_IFMT;
        let (bits, ext) = match fmt {
            S_IFREG | 0 => (0, String::new()),
            _ if !self.unix() => {
                return Err(refuse(errno::EPERM, "9P2000 has no device or FIFO nodes"))
            }
            S_IFIFO => (Stat::DMNAMEDPIPE, String::new()),
            S_IFSOCK => (Stat::DMSOCKET, String::new()),
            S_IFBLK | S_IFCHR => (Stat::DMDEVICE, convert::device_extension(fmt, major, minor)),
            _ => return Err(refuse(errno::EINVAL, "unknown file type")),
        };
        self.create_beside(name, bits | perm, ext.as_bytes()).await
    }

    /// link: Tcreate with DMLINK and the target's fid as extension (.u).
    pub(crate) async fn link_by_create(&self, target: &File, name: &[u8]) -> Result<()> {
        if !self.unix() {
            return Err(refuse(errno::EPERM, "9P2000 has no hard links"));
        }
        let ext = format!("{}\n", target.fid.0);
        self.create_beside(name, Stat::DMLINK, ext.as_bytes())
            .await
            .map(drop)
    }
}
