//! [`File`]: a fid owned by a handle, and the typed operations on it.
//!
//! The handle clunks its fid when dropped (without waiting) or when
//! [`File::clunk`] is awaited; [`File::remove`] consumes it too. A fid is
//! never clunked twice, and a walk's new fid is given back if the walk fails.
//!
//! The 9P2000.L methods work on every dialect: on a 9P2000 or 9P2000.u
//! connection each one starts by handing over to its translation in
//! `compat` (Tstat for getattr, Twstat for setattr, Topen, Tcreate, ...).

use bytes::Bytes;

use crate::client::{unexpected, Client};
use crate::error::{Error, RemoteError, Result};
use crate::ids::Fid;
use crate::wire::*;

/// Most names one Twalk may carry (walk(5)).
pub const MAXWELEM: usize = 16;
const ENOENT: u32 = 2;
const EIO: u32 = 5;

/// A fid on the server, clunked when dropped.
#[derive(Debug)]
pub struct File {
    client: Client,
    fid: Fid,
    qid: Qid,
    iounit: u32,
    live: bool,
}

/// Attributes to change with [`File::setattr`]; only fields named in
/// `valid` (`setattr::*` bits) are used.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct SetAttr {
    pub valid: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub atime_sec: u64,
    pub atime_nsec: u64,
    pub mtime_sec: u64,
    pub mtime_nsec: u64,
}

/// A byte-range lock request for [`File::lock`] and [`File::getlock`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct LockSpec {
    /// `lock::RDLCK`, `WRLCK` or `UNLCK`.
    pub ty: u8,
    pub start: u64,
    /// 0: to the end of the file.
    pub length: u64,
    pub proc_id: u32,
    pub client_id: String,
}

/// The reply's variant, or a protocol error naming what came instead.
macro_rules! expect {
    ($reply:expr, $variant:ident) => {
        match $reply {
            Rmessage::$variant(r) => Ok(r),
            r => Err(unexpected(&r)),
        }
    };
}

// After `expect!`, which they use.
mod classic;
mod compat;
mod io;
#[cfg(test)]
mod tests;
mod xattr;

/// A name (or link target) for the wire. 9P2000.L names are bytes, as on
/// Linux: they need not be UTF-8, so every method takes `impl AsRef<[u8]>`.
pub(crate) fn name(s: impl AsRef<[u8]>) -> Result<NineStr> {
    let b = s.as_ref();
    NineStr::new(Bytes::copy_from_slice(b))
        .ok_or_else(|| Error::Invalid(format!("name of {} bytes", b.len())))
}

impl File {
    pub(crate) fn new(client: Client, fid: Fid, qid: Qid) -> File {
        File {
            client,
            fid,
            qid,
            iounit: 0,
            live: true,
        }
    }

    /// The fid this handle owns.
    pub fn fid(&self) -> Fid {
        self.fid
    }

    /// The qid from the attach, walk or open that made this handle.
    pub fn qid(&self) -> Qid {
        self.qid
    }

    /// The connection.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Most bytes one Tread/Twrite on this file may carry: the iounit from
    /// the open, or msize - 24.
    pub fn io_size(&self) -> u32 {
        match self.iounit {
            0 => self.client.max_io(),
            n => n.min(self.client.max_io()),
        }
    }

    async fn rpc(&self, msg: impl Into<Tmessage>) -> Result<Rmessage> {
        self.client.rpc(msg).await
    }

    /// Walk `names` from here to a new fid (no names: a clone of this fid).
    /// Long paths take several Twalks of at most 16 names.
    pub async fn walk<S: AsRef<[u8]>>(&self, names: &[S]) -> Result<File> {
        let names = names.iter().map(name).collect::<Result<Vec<_>>>()?;
        let mut chunks = names.chunks(MAXWELEM);
        let first = chunks.next().unwrap_or(&[]);
        let mut file = self.walk_once(first.to_vec()).await?;
        for chunk in chunks {
            file = file.walk_once(chunk.to_vec()).await?;
        }
        Ok(file)
    }

    async fn walk_once(&self, wname: Vec<NineStr>) -> Result<File> {
        let n = wname.len();
        let (newfid, r) = self
            .client
            .with_new_fid(|newfid| {
                let msg = Twalk {
                    fid: self.fid,
                    newfid,
                    wname: wname.clone(),
                };
                async move {
                    // The session frees newfid for an error reply.
                    let r = expect!(self.rpc(msg).await?, Rwalk)?;
                    Ok((newfid, r))
                }
            })
            .await?;
        if r.wqid.len() < n {
            // A partial walk binds nothing; the session freed newfid.
            return Err(Error::Remote(RemoteError {
                errno: Some(ENOENT),
                ename: Some("file not found".into()),
            }));
        }
        let qid = r.wqid.last().copied().unwrap_or(self.qid);
        Ok(File::new(self.client.clone(), newfid, qid))
    }

    /// Attributes (9P2000.L); `mask` is a set of `getattr::*` bits.
    pub async fn getattr(&self, mask: u64) -> Result<Rgetattr> {
        if self.classic() {
            return self.getattr_by_stat().await;
        }
        let r = self
            .rpc(Tgetattr {
                fid: self.fid,
                request_mask: mask,
            })
            .await?;
        expect!(r, Rgetattr)
    }

    /// Change attributes (9P2000.L).
    pub async fn setattr(&self, a: &SetAttr) -> Result<()> {
        if self.classic() {
            return self.setattr_by_wstat(a).await;
        }
        let msg = Tsetattr {
            fid: self.fid,
            valid: a.valid,
            mode: a.mode,
            uid: a.uid,
            gid: a.gid,
            size: a.size,
            atime_sec: a.atime_sec,
            atime_nsec: a.atime_nsec,
            mtime_sec: a.mtime_sec,
            mtime_nsec: a.mtime_nsec,
        };
        expect!(self.rpc(msg).await?, Rsetattr).map(drop)
    }

    /// Open with Linux open(2) flags (9P2000.L).
    pub async fn lopen(&mut self, flags: u32) -> Result<Qid> {
        if self.classic() {
            return self.lopen_by_open(flags).await;
        }
        let r = expect!(
            self.rpc(Tlopen {
                fid: self.fid,
                flags
            })
            .await?,
            Rlopen
        )?;
        self.iounit = r.iounit;
        Ok(r.qid)
    }

    /// Open with Linux open(2) flags and ask for the attributes (`mask`)
    /// at the same time: Tlopen and Tgetattr of this fid go out together,
    /// one round trip for both (9P2000.L; one after the other for the
    /// older dialects).
    pub async fn lopen_getattr(
        &mut self,
        flags: u32,
        mask: u64,
    ) -> (Result<Qid>, Result<Rgetattr>) {
        if self.classic() {
            let q = self.lopen(flags).await;
            return (q, self.getattr(mask).await);
        }
        let fid = self.fid;
        let open = self.client.rpc(Tlopen { fid, flags });
        let attrs = self.client.rpc(Tgetattr {
            fid,
            request_mask: mask,
        });
        let (o, a) = tokio::join!(open, attrs);
        let q = o.and_then(|r| expect!(r, Rlopen)).map(|r| {
            self.iounit = r.iounit;
            r.qid
        });
        (q, a.and_then(|r| expect!(r, Rgetattr)))
    }

    /// Create and open `name` in this directory; this handle becomes the
    /// new file (9P2000.L).
    pub async fn lcreate(
        &mut self,
        name_: impl AsRef<[u8]>,
        flags: u32,
        mode: u32,
        gid: u32,
    ) -> Result<Qid> {
        if self.classic() {
            return self.lcreate_by_create(name_.as_ref(), flags, mode).await;
        }
        let msg = Tlcreate {
            fid: self.fid,
            name: name(name_)?,
            flags,
            mode,
            gid,
        };
        let r = expect!(self.rpc(msg).await?, Rlcreate)?;
        self.qid = r.qid;
        self.iounit = r.iounit;
        Ok(r.qid)
    }

    /// One Treaddir from `offset` (9P2000.L).
    pub async fn readdir(&self, offset: u64, count: u32) -> Result<Vec<Dirent>> {
        if self.classic() {
            return self.readdir_by_read(offset, count).await;
        }
        let count = count.min(self.io_size());
        let r = expect!(
            self.rpc(Treaddir {
                fid: self.fid,
                offset,
                count
            })
            .await?,
            Rreaddir
        )?;
        Ok(parse_dirents(r.data.0)?)
    }

    /// Every entry of this (opened) directory, by repeated Treaddir.
    pub async fn readdir_all(&self) -> Result<Vec<Dirent>> {
        if self.classic() {
            return self.readdir_all_by_read().await;
        }
        let mut all = Vec::new();
        let mut offset = 0;
        loop {
            let batch = self.readdir(offset, self.io_size()).await?;
            let Some(last) = batch.last() else {
                return Ok(all);
            };
            if last.offset == offset {
                return Err(Error::Protocol("Rreaddir offset does not advance".into()));
            }
            offset = last.offset;
            all.extend(batch);
        }
    }

    /// Create directory `name` here (9P2000.L).
    pub async fn mkdir(&self, name_: impl AsRef<[u8]>, mode: u32, gid: u32) -> Result<Qid> {
        if self.classic() {
            return self.mkdir_by_create(name_.as_ref(), mode).await;
        }
        let msg = Tmkdir {
            dfid: self.fid,
            name: name(name_)?,
            mode,
            gid,
        };
        Ok(expect!(self.rpc(msg).await?, Rmkdir)?.qid)
    }

    /// Create symlink `name` -> `target` here (9P2000.L).
    pub async fn symlink(
        &self,
        name_: impl AsRef<[u8]>,
        target: impl AsRef<[u8]>,
        gid: u32,
    ) -> Result<Qid> {
        if self.classic() {
            return self
                .symlink_by_create(name_.as_ref(), target.as_ref())
                .await;
        }
        let msg = Tsymlink {
            fid: self.fid,
            name: name(name_)?,
            symtgt: name(target)?,
            gid,
        };
        Ok(expect!(self.rpc(msg).await?, Rsymlink)?.qid)
    }

    /// Create a device node, FIFO or socket here (9P2000.L).
    pub async fn mknod(
        &self,
        name_: impl AsRef<[u8]>,
        mode: u32,
        major: u32,
        minor: u32,
        gid: u32,
    ) -> Result<Qid> {
        if self.classic() {
            return self
                .mknod_by_create(name_.as_ref(), mode, major, minor)
                .await;
        }
        let msg = Tmknod {
            dfid: self.fid,
            name: name(name_)?,
            mode,
            major,
            minor,
            gid,
        };
        Ok(expect!(self.rpc(msg).await?, Rmknod)?.qid)
    }

    /// Hard-link `target` as `name` in this directory (9P2000.L).
    pub async fn link(&self, target: &File, name_: impl AsRef<[u8]>) -> Result<()> {
        if self.classic() {
            return self.link_by_create(target, name_.as_ref()).await;
        }
        let msg = Tlink {
            dfid: self.fid,
            fid: target.fid,
            name: name(name_)?,
        };
        expect!(self.rpc(msg).await?, Rlink).map(drop)
    }

    /// Move this file to `name` in directory `dir` (9P2000.L Trename).
    pub async fn rename(&self, dir: &File, name_: impl AsRef<[u8]>) -> Result<()> {
        if self.classic() {
            return self.rename_by_wstat(dir, name_.as_ref()).await;
        }
        let msg = Trename {
            fid: self.fid,
            dfid: dir.fid,
            name: name(name_)?,
        };
        expect!(self.rpc(msg).await?, Rrename).map(drop)
    }

    /// Rename `old` in this directory to `new` in `newdir` (9P2000.L).
    pub async fn renameat(
        &self,
        old: impl AsRef<[u8]>,
        newdir: &File,
        new: impl AsRef<[u8]>,
    ) -> Result<()> {
        if self.classic() {
            return self
                .renameat_by_wstat(old.as_ref(), newdir, new.as_ref())
                .await;
        }
        let msg = Trenameat {
            olddirfid: self.fid,
            oldname: name(old)?,
            newdirfid: newdir.fid,
            newname: name(new)?,
        };
        expect!(self.rpc(msg).await?, Rrenameat).map(drop)
    }

    /// Remove `name` from this directory; `flags` = `AT_REMOVEDIR` (0x200)
    /// for a directory (9P2000.L).
    pub async fn unlinkat(&self, name_: impl AsRef<[u8]>, flags: u32) -> Result<()> {
        if self.classic() {
            return self.unlinkat_by_remove(name_.as_ref(), flags).await;
        }
        let msg = Tunlinkat {
            dirfd: self.fid,
            name: name(name_)?,
            flags,
        };
        expect!(self.rpc(msg).await?, Runlinkat).map(drop)
    }

    /// A symlink's target (9P2000.L).
    pub async fn readlink(&self) -> Result<NineStr> {
        if self.classic() {
            return self.readlink_by_stat().await;
        }
        Ok(expect!(self.rpc(Treadlink { fid: self.fid }).await?, Rreadlink)?.target)
    }

    /// File system statistics (9P2000.L).
    pub async fn statfs(&self) -> Result<Rstatfs> {
        if self.classic() {
            return Ok(self.statfs_made_up());
        }
        expect!(self.rpc(Tstatfs { fid: self.fid }).await?, Rstatfs)
    }

    /// Flush to stable storage (9P2000.L).
    pub async fn fsync(&self, datasync: bool) -> Result<()> {
        if self.classic() {
            return self.fsync_by_wstat().await;
        }
        let msg = Tfsync {
            fid: self.fid,
            datasync: datasync as u32,
        };
        expect!(self.rpc(msg).await?, Rfsync).map(drop)
    }

    /// Take, test-and-take or release a lock; returns the `lock::*` status.
    pub async fn lock(&self, l: &LockSpec, flags: u32) -> Result<u8> {
        if self.classic() {
            return Err(self.no_such_message("Tlock"));
        }
        let msg = Tlock {
            fid: self.fid,
            ty: l.ty,
            flags,
            start: l.start,
            length: l.length,
            proc_id: l.proc_id,
            client_id: name(&l.client_id)?,
        };
        Ok(expect!(self.rpc(msg).await?, Rlock)?.status)
    }

    /// The lock that would conflict with `l`, or `ty == lock::UNLCK`.
    pub async fn getlock(&self, l: &LockSpec) -> Result<Rgetlock> {
        if self.classic() {
            return Err(self.no_such_message("Tgetlock"));
        }
        let msg = Tgetlock {
            fid: self.fid,
            ty: l.ty,
            start: l.start,
            length: l.length,
            proc_id: l.proc_id,
            client_id: name(&l.client_id)?,
        };
        expect!(self.rpc(msg).await?, Rgetlock)
    }

    /// Clunk the fid and wait for the answer.
    pub async fn clunk(mut self) -> Result<()> {
        self.live = false;
        expect!(self.client.rpc(Tclunk { fid: self.fid }).await?, Rclunk).map(drop)
    }

    /// Remove the file; the fid is clunked whatever the answer.
    pub async fn remove(mut self) -> Result<()> {
        self.live = false;
        expect!(self.client.rpc(Tremove { fid: self.fid }).await?, Rremove).map(drop)
    }
}

impl Drop for File {
    fn drop(&mut self) {
        if self.live {
            self.client.clunk_nowait(self.fid);
        }
    }
}
