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

    /// Keep the known names of `parent` (`complete.rs`) exact after an
    /// attempt to make `name` in it: a failure (the name may exist after
    /// all) forgets the directory.
    fn learn_made(&self, parent: u64, name: &[u8], ok: bool) {
        if ok {
            self.known.added(parent, name);
        } else {
            self.known.forget(parent);
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
        let entry = self.enter(parent, name, uid, file, None).await?;
        let is_dir = entry.attr.kind == fuse3::FileType::Directory;
        self.absent.inherit(parent, entry.attr.ino, is_dir);
        Ok(entry)
    }

    pub(crate) async fn do_mkdir(
        &self,
        req: &Request,
        parent: u64,
        name: &[u8],
        mode: u32,
    ) -> Result<ReplyEntry, Fail> {
        let dir = self.fid(parent, self.who(req)).await?;
        let made = dir.mkdir(component(name)?, mode & 0o7777, req.gid).await;
        self.learn_made(parent, name, made.is_ok());
        made?;
        let entry = self.made(req, parent, name).await?;
        // Nothing in it yet: lookups in it need no Twalk until it changes.
        self.known.made_empty(entry.attr.ino, self.who(req));
        Ok(entry)
    }

    pub(crate) async fn do_symlink(
        &self,
        req: &Request,
        parent: u64,
        name: &[u8],
        target: &[u8],
    ) -> Result<ReplyEntry, Fail> {
        let dir = self.fid(parent, self.who(req)).await?;
        let made = dir
            .symlink(component(name)?, no_nul(target)?, req.gid)
            .await;
        self.learn_made(parent, name, made.is_ok());
        made?;
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
        let made = dir
            .mknod(component(name)?, mode, major, minor, req.gid)
            .await;
        self.learn_made(parent, name, made.is_ok());
        made?;
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
        let made = dir.link(&target, component(new_name)?).await;
        self.learn_made(new_parent, new_name, made.is_ok());
        made?;
        self.attrs.invalidate(&[ino, new_parent]);
        self.dirs.invalidate(&[new_parent]);
        let a = target.getattr(ATTR_MASK).await?;
        let linked = self.inodes.lookup(new_parent, new_name, found(&a), None);
        self.attrs.put(linked, &a);
        Ok(self.entry(linked, &a))
    }

    /// Ask directory `parent` (through its fid `dir`) for the extended
    /// attributes whose absence its new files inherit (`absent.rs`), once
    /// per TTL: sent along with a create's own requests.
    async fn probe_inherited(&self, parent: u64, dir: Option<&File>) {
        let Some(dir) = dir else { return };
        let asks = self.absent.to_probe(parent).iter().map(|&name| async move {
            let missing = matches!(
                dir.xattr_get(name).await.map_err(Fail::from),
                Err(Fail(libc::ENODATA))
            );
            (name, missing)
        });
        for (name, missing) in futures::future::join_all(asks).await {
            if missing {
                self.absent.note(parent, name);
            }
        }
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
        self.readahead.fire();
        let uid = self.who(req);
        let checked = component(name)?;
        let (mut file, dir) = self.fid_to_create_in(parent, uid).await?;
        // O_CREAT too, as v9fs sends it: unpfs passes the flags to open(2)
        // as they are (diod adds O_CREAT itself).
        let flags = open_flags(flags) | libc::O_CREAT as u32 | (flags & libc::O_EXCL as u32);
        let known = self.writer_by_name(parent, name, flags).await;
        let created = file.lcreate(checked, flags, mode & 0o7777, req.gid);
        let (qid, dir) = tokio::join!(created, dir);
        self.learn_made(parent, name, qid.is_ok());
        let qid = qid?;
        self.attrs.invalidate(&[parent]);
        self.dirs.invalidate(&[parent]);
        self.give_to_caller(req, &file).await;
        // The inode's own (unopened) fid, walked along with the Tgetattr:
        // the setattr of a `touch` or the stat that follows a create then
        // costs no walk of its own.
        let dir = dir.ok();
        let walk = async {
            match &dir {
                Some(dir) => dir.walk(&[name]).await.ok(),
                None => None,
            }
        };
        let probe = self.probe_inherited(parent, dir.as_deref());
        let (a, fid, ()) = tokio::join!(file.getattr(ATTR_MASK), walk, probe);
        let a: Rgetattr = a?;
        let fid = fid.filter(|f| f.qid().path == qid.path);
        let ino = self
            .inodes
            .lookup(parent, name, found(&a), fid.map(|f| (uid, f)));
        self.attrs.put(ino, &a);
        self.absent.inherit(parent, ino, false);
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
