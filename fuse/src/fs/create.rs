//! Making names: create, mkdir, mknod, symlink, link.
//!
//! Every new file carries the caller's gid in the 9P request. With
//! `access=user` the server makes it as the caller (the attach was theirs);
//! with `access=client` everything is made as the mounter, so when the
//! caller is someone else the new file is given to the caller's uid and
//! gid afterwards (if the server allows it; otherwise it stays the
//! mounter's, and that is logged).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::kernel::prelude::*;
use futures::future::{BoxFuture, FutureExt};
use ninep_client::wire::{setattr, Qid, Rgetattr};
use ninep_client::{File, SetAttr};
use tracing::debug;

use super::file::open_flags;
use super::{found, Fs, ATTR_MASK};
use crate::config::Access;
use crate::early::Settling;
use crate::errno::errno_of;
use crate::errno::Fail;
use crate::handles::{OpenFile, Origin};
use crate::ino::Ino;
use crate::names::{component, no_nul};
use crate::prefetch::Writer;

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
    async fn made(&self, req: &Request, parent: Ino, name: &[u8]) -> Result<ReplyEntry, Fail> {
        let uid = self.who(req);
        let dir = self.fid(parent, uid).await?;
        let file = dir.walk(&[name]).await?;
        self.give_to_caller(req, &file).await;
        let entry = self.enter(parent, name, uid, file, None).await?;
        let is_dir = entry.attr.kind == FileType::Directory;
        self.cache
            .absent
            .inherit(parent, Ino::from_kernel(entry.attr.ino), is_dir);
        Ok(entry)
    }

    pub(crate) async fn do_mkdir(
        &self,
        req: &Request,
        parent: Ino,
        name: &[u8],
        mode: u32,
    ) -> Result<ReplyEntry, Fail> {
        let dir = self.fid(parent, self.who(req)).await?;
        // The new directory inherits what is known of `parent` (`made`):
        // ask `parent` along with the Tmkdir if nothing is, so that a tree
        // of new directories (an untar, git's objects) is asked once at
        // its top rather than once in each.
        let mkdir = dir.mkdir(component(name)?, mode & 0o7777, req.gid);
        let (made, ()) = tokio::join!(mkdir, self.probe_inherited(parent, Some(&dir)));
        self.cache.made(parent, name, made.is_ok(), true);
        made?;
        let entry = self.made(req, parent, name).await?;
        // Nothing in it yet: lookups in it need no Twalk until it changes.
        self.cache
            .known
            .made_empty(Ino::from_kernel(entry.attr.ino), self.who(req));
        Ok(entry)
    }

    pub(crate) async fn do_symlink(
        &self,
        req: &Request,
        parent: Ino,
        name: &[u8],
        target: &[u8],
    ) -> Result<ReplyEntry, Fail> {
        let dir = self.fid(parent, self.who(req)).await?;
        let made = dir
            .symlink(component(name)?, no_nul(target)?, req.gid)
            .await;
        self.cache.made(parent, name, made.is_ok(), false);
        made?;
        self.made(req, parent, name).await
    }

    pub(crate) async fn do_mknod(
        &self,
        req: &Request,
        parent: Ino,
        name: &[u8],
        mode: u32,
        rdev: u32,
    ) -> Result<ReplyEntry, Fail> {
        let dir = self.fid(parent, self.who(req)).await?;
        let (major, minor) = crate::attr::split_rdev(rdev);
        let made = dir
            .mknod(component(name)?, mode, major, minor, req.gid)
            .await;
        self.cache.made(parent, name, made.is_ok(), false);
        made?;
        self.made(req, parent, name).await
    }

    pub(crate) async fn do_link(
        &self,
        req: &Request,
        ino: Ino,
        new_parent: Ino,
        new_name: &[u8],
    ) -> Result<ReplyEntry, Fail> {
        let uid = self.who(req);
        let dir = self.fid(new_parent, uid).await?;
        let name = component(new_name)?;
        let mut target = self.fid(ino, uid).await?;
        let mut made = dir.link(&target, name).await;
        // A server that keeps paths in fids loses the target's when the
        // name it was walked by goes (the first of two hard links
        // unlinked): walk it again from a name it still has, once.
        let gone = |r: &ninep_client::Result<()>| {
            r.as_ref()
                .is_err_and(|e| matches!(errno_of(e), libc::ENOENT | libc::ESTALE))
        };
        if gone(&made) {
            debug!(%ino, uid, "link target's fid gone stale; walking again");
            self.inodes.drop_fid(ino, uid, &target);
            target = self.fid(ino, uid).await?;
            made = dir.link(&target, name).await;
        }
        self.cache.made(new_parent, new_name, made.is_ok(), false);
        made?;
        // With the page cache, attributes still trusted only gain the link
        // (no Tgetattr: `git add` links every object it writes).
        if let Some(a) = self.cache.attrs.linked(ino) {
            self.cache.view.ours(ino);
            self.inodes.set_nlink(ino, a.nlink);
            let linked = self.inodes.lookup(new_parent, new_name, found(&a), None);
            return Ok(self.entry(linked, &a));
        }
        self.cache.changed(ino);
        let a = target.getattr(ATTR_MASK).await?;
        let linked = self.inodes.lookup(new_parent, new_name, found(&a), None);
        self.cache.attrs.put(linked, &a);
        Ok(self.entry(linked, &a))
    }

    /// Ask directory `parent` (through its fid `dir`) for the extended
    /// attributes whose absence its new files inherit (`absent.rs`), once
    /// per TTL: sent along with a create's own requests.
    async fn probe_inherited(&self, parent: Ino, dir: Option<&File>) {
        let Some(dir) = dir else { return };
        let asks = self
            .cache
            .absent
            .to_probe(parent)
            .iter()
            .map(|&name| async move {
                let missing = matches!(
                    dir.xattr_get(name).await.map_err(Fail::from),
                    Err(Fail(libc::ENODATA))
                );
                (name, missing)
            });
        for (name, missing) in futures::future::join_all(asks).await {
            if missing {
                self.cache.absent.note(parent, name);
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
        parent: Ino,
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
        parent: Ino,
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
        self.cache.made(parent, name, qid.is_ok(), false);
        let qid = qid?;
        let dir = dir.ok();
        let made = Made {
            parent,
            name,
            uid,
            qid,
        };
        if self.answers_early(req) {
            let mode = (mode, req.gid);
            return Ok(self.create_early(made, mode, flags, file, dir, known).await);
        }
        self.give_to_caller(req, &file).await;
        let (a, fid) = self.fetch_made(made, &file, dir.as_deref()).await;
        let a: Rgetattr = a?;
        let ino = self
            .inodes
            .lookup(parent, name, found(&a), fid.map(|f| (uid, f)));
        self.cache.attrs.put(ino, &a);
        self.cache.absent.inherit(parent, ino, false);
        let direct = self.direct_io(qid, &a);
        let reads = self.reads(self.writer(ino, flags).await, direct, a.size);
        drop(known);
        let open = self.open_reply(file, (direct, false), Origin::new(ino, uid, flags), reads);
        let entry = self.entry(ino, &a);
        Ok(ReplyCreated {
            ttl: entry.ttl,
            attr: entry.attr,
            generation: 0,
            fh: open.fh,
            flags: open.flags,
        })
    }

    /// Whether a create by `req` is answered as soon as its Tlcreate is
    /// (`early.rs`): with the page cache on 9P2000.L, and when the new file
    /// needs no change of owner.
    fn answers_early(&self, req: &Request) -> bool {
        let owner_ok = self.cfg.access == Access::User || req.uid == self.cfg.attach.n_uname;
        self.cfg.cache.page_cache() && self.appends() && owner_ok
    }

    /// Answer a create whose Tlcreate succeeded before the new file's
    /// attributes come: predicted ones, with a TTL of zero (`early.rs`);
    /// its Tgetattr and the walk to its own fid go on in the background.
    async fn create_early(
        &self,
        m: Made<'_>,
        (mode, gid): (u32, u32),
        flags: u32,
        file: File,
        dir: Option<Arc<File>>,
        known: Option<Writer>,
    ) -> ReplyCreated {
        let a = predicted(m.qid, mode, (m.uid, gid), SystemTime::now());
        let ino = self.inodes.lookup(m.parent, m.name, found(&a), None);
        self.cache.attrs.settling(ino);
        // Attributes with a TTL of zero: the kernel asks for them again.
        self.cache.view.ours(ino);
        self.early.owe(m.parent, m.name, ino, m.uid);
        let direct = self.direct_io(m.qid, &a);
        let reads = self.reads(self.writer(ino, flags).await, direct, a.size);
        drop(known);
        let open = self.open_reply(file, (direct, false), Origin::new(ino, m.uid, flags), reads);
        if let Some(h) = self.handles.file(open.fh) {
            // No settling if the file is settling already (made under two
            // names at once): the work is done all the same, only nobody
            // waits for it.
            let settling = self.early.start(ino, m.uid, open.fh);
            let fs = self.clone();
            let (parent, name, uid, qid) = (m.parent, m.name.to_vec(), m.uid, m.qid);
            tokio::spawn(async move {
                let m = Made {
                    parent,
                    name: &name,
                    uid,
                    qid,
                };
                fs.settle(m, ino, h, dir, settling).await
            });
        } else {
            // The handle is gone already (a reconnect cleared the table):
            // nothing settles, the next getattr asks the server.
            self.cache.attrs.settled(ino, None);
        }
        ReplyCreated {
            ttl: std::time::Duration::ZERO,
            attr: crate::attr::file_attr(ino, &a, self.overrides()),
            generation: 0,
            fh: open.fh,
            flags: open.flags,
        }
    }

    /// What a create waits for after its Tlcreate, all at once: the new
    /// file's Tgetattr through `open` (its opened fid), the walk from `dir`
    /// to its own unopened fid (so the setattr of a `touch` or the stat
    /// that follows costs no walk; `None` unless it lands on the file),
    /// and the directory's inherited xattrs.
    async fn fetch_made(
        &self,
        m: Made<'_>,
        open: &File,
        dir: Option<&File>,
    ) -> (ninep_client::Result<Rgetattr>, Option<File>) {
        let walk = async {
            match dir {
                Some(dir) => dir.walk(&[m.name]).await.ok(),
                None => None,
            }
        };
        let probe = self.probe_inherited(m.parent, dir);
        let (a, fid, ()) = tokio::join!(open.getattr(ATTR_MASK), walk, probe);
        (a, fid.filter(|f| f.qid().path == m.qid.path))
    }

    /// The background half of a create answered early ([`Fs::fetch_made`]),
    /// its results kept as they come.
    async fn settle(
        &self,
        m: Made<'_>,
        ino: Ino,
        open: Arc<OpenFile>,
        dir: Option<Arc<File>>,
        settling: Option<Settling<u64>>,
    ) {
        let (a, fid) = self.fetch_made(m, &open.file, dir.as_deref()).await;
        let a = a.ok().filter(|a| a.qid.path == m.qid.path);
        if let Some(a) = &a {
            self.inodes.set_nlink(ino, a.nlink);
        }
        self.cache.attrs.settled(ino, a.as_ref());
        if let Some(fid) = fid {
            self.inodes.set_fid(ino, m.uid, fid);
        }
        self.cache.absent.inherit(m.parent, ino, false);
        drop(settling);
    }
}

/// A file just made: where, by whom (whose fids), and its qid.
#[derive(Debug, Clone, Copy)]
struct Made<'a> {
    parent: Ino,
    name: &'a [u8],
    uid: u32,
    qid: Qid,
}

/// The attributes a create of a regular file with `mode` by `owner` (uid,
/// gid) is expected to give: empty, one link, made `now`. Given to the
/// kernel with a TTL of zero only, which it never trusts (`early.rs`).
fn predicted(qid: Qid, mode: u32, (uid, gid): (u32, u32), now: SystemTime) -> Rgetattr {
    let t = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let (sec, nsec) = (t.as_secs(), u64::from(t.subsec_nanos()));
    Rgetattr {
        valid: ATTR_MASK,
        qid,
        mode: libc::S_IFREG | (mode & 0o7777),
        uid,
        gid,
        nlink: 1,
        rdev: 0,
        size: 0,
        blksize: 4096,
        blocks: 0,
        atime_sec: sec,
        atime_nsec: nsec,
        mtime_sec: sec,
        mtime_nsec: nsec,
        ctime_sec: sec,
        ctime_nsec: nsec,
        btime_sec: 0,
        btime_nsec: 0,
        gen: 0,
        data_version: 0,
    }
}
