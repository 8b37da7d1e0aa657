//! Making names: create, mkdir, mknod, symlink, link.
//!
//! Every new file carries the caller's gid in the 9P request. With
//! `access=user` the server makes it as the caller (the attach was theirs);
//! with `access=client` everything is made as the mounter, so when the
//! caller is someone else the new file is given to the caller's uid and
//! gid afterwards (if the server allows it; otherwise it stays the
//! mounter's, and that is logged).

use std::sync::Arc;

use fuse3::raw::prelude::*;
use futures::future::{BoxFuture, FutureExt};
use ninep_client::wire::{setattr, Rgetattr};
use ninep_client::{File, SetAttr};
use tracing::debug;

use super::file::open_flags;
use super::{found, Fs, ATTR_MASK};
use crate::config::Access;
use crate::errno::Fail;
use crate::handles::Origin;
use crate::names::{component, no_nul};

impl Fs {
    /// With `access=client`, give `file` (just made) to the caller when the
    /// caller is not the mounter. Returns whether anything changed.
    async fn give_to_caller(&self, req: &Request, file: &File) -> bool {
        if self.cfg.access != Access::Client || req.uid == self.cfg.attach.n_uname {
            return false;
        }
        let s = SetAttr {
            valid: setattr::UID | setattr::GID,
            uid: req.uid,
            gid: req.gid,
            ..SetAttr::default()
        };
        match file.setattr(&s).await {
            Ok(()) => true,
            Err(e) => {
                debug!(uid = req.uid, "cannot give a new file to its creator: {e}");
                false
            }
        }
    }

    /// Walk to `name`, just made in `parent`, and enter it in the table.
    async fn made(&self, req: &Request, parent: u64, name: &[u8]) -> Result<ReplyEntry, Fail> {
        self.attrs.invalidate(&[parent]);
        self.dirs.invalidate(&[parent]);
        let uid = self.who(req);
        let dir = self.fid(parent, uid).await?;
        let file = dir.walk(&[name]).await?;
        self.give_to_caller(req, &file).await;
        Ok(self.enter(parent, name, uid, file, None).await?)
    }

    pub(crate) async fn do_mkdir(
        &self,
        req: &Request,
        parent: u64,
        name: &[u8],
        mode: u32,
    ) -> Result<ReplyEntry, Fail> {
        let dir = self.fid(parent, self.who(req)).await?;
        dir.mkdir(component(name)?, mode & 0o7777, req.gid).await?;
        self.made(req, parent, name).await
    }

    pub(crate) async fn do_symlink(
        &self,
        req: &Request,
        parent: u64,
        name: &[u8],
        target: &[u8],
    ) -> Result<ReplyEntry, Fail> {
        let dir = self.fid(parent, self.who(req)).await?;
        dir.symlink(component(name)?, no_nul(target)?, req.gid)
            .await?;
        self.made(req, parent, name).await
    }

    pub(crate) async fn do_mknod(
        &self,
        req: &Request,
        parent: u64,
        name: &[u8],
        mode: u32,
        rdev: u32,
    ) -> Result<ReplyEntry, Fail> {
        let dir = self.fid(parent, self.who(req)).await?;
        let (major, minor) = crate::attr::split_rdev(rdev);
        dir.mknod(component(name)?, mode, major, minor, req.gid)
            .await?;
        self.made(req, parent, name).await
    }

    pub(crate) async fn do_link(
        &self,
        req: &Request,
        ino: u64,
        new_parent: u64,
        new_name: &[u8],
    ) -> Result<ReplyEntry, Fail> {
        let uid = self.who(req);
        let dir = self.fid(new_parent, uid).await?;
        let target = self.fid(ino, uid).await?;
        dir.link(&target, component(new_name)?).await?;
        self.attrs.invalidate(&[ino, new_parent]);
        self.dirs.invalidate(&[new_parent]);
        let a = target.getattr(ATTR_MASK).await?;
        let linked = self.inodes.lookup(new_parent, new_name, found(&a), None);
        self.attrs.put(linked, &a);
        Ok(self.entry(linked, &a))
    }

    /// A fid of directory `parent` for Tlcreate to turn into the new file,
    /// and (to await along with the Tlcreate) the directory's fid for the
    /// walk that follows. The directory's own fid is taken when no request
    /// is using it, and a new one walked while the Tlcreate is in flight;
    /// otherwise a clone is walked first, one more round trip.
    async fn fid_to_create_in(
        &self,
        parent: u64,
        uid: u32,
    ) -> Result<(File, BoxFuture<'_, Result<Arc<File>, Fail>>), Fail> {
        if let Some(own) = self.inodes.take_fid(parent, uid) {
            return Ok((own, self.fid(parent, uid).boxed()));
        }
        let dir = self.fid(parent, uid).await?;
        let clone = dir.walk::<&[u8]>(&[]).await?;
        Ok((clone, futures::future::ready(Ok(dir)).boxed()))
    }

    pub(crate) async fn do_create(
        &self,
        req: &Request,
        parent: u64,
        name: &[u8],
        mode: u32,
        flags: u32,
    ) -> Result<ReplyCreated, Fail> {
        let uid = self.who(req);
        let checked = component(name)?;
        let (mut file, dir) = self.fid_to_create_in(parent, uid).await?;
        // O_CREAT too, as v9fs sends it: unpfs passes the flags to open(2)
        // as they are (diod adds O_CREAT itself).
        let flags = open_flags(flags) | libc::O_CREAT as u32 | (flags & libc::O_EXCL as u32);
        let known = self.writer_by_name(parent, name, flags).await;
        let created = file.lcreate(checked, flags, mode & 0o7777, req.gid);
        let (qid, dir) = tokio::join!(created, dir);
        let qid = qid?;
        self.attrs.invalidate(&[parent]);
        self.dirs.invalidate(&[parent]);
        self.give_to_caller(req, &file).await;
        // The inode's own (unopened) fid, walked along with the Tgetattr:
        // the setattr of a `touch` or the stat that follows a create then
        // costs no walk of its own.
        let walk = async {
            match dir {
                Ok(dir) => dir.walk(&[name]).await.ok(),
                Err(_) => None,
            }
        };
        let (a, fid) = tokio::join!(file.getattr(ATTR_MASK), walk);
        let a: Rgetattr = a?;
        let fid = fid.filter(|f| f.qid().path == qid.path);
        let ino = self
            .inodes
            .lookup(parent, name, found(&a), fid.map(|f| (uid, f)));
        self.attrs.put(ino, &a);
        let direct = self.direct_io(qid, &a);
        let reads = self.reads(self.writer(ino, flags).await, direct, a.size);
        drop(known);
        let open = self.open_reply(file, direct, Origin::new(ino, uid, flags), reads);
        let entry = self.entry(ino, &a);
        Ok(ReplyCreated {
            ttl: entry.ttl,
            attr: entry.attr,
            generation: 0,
            fh: open.fh,
            flags: open.flags,
        })
    }
}
