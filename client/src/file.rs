//! [`File`]: a fid owned by a handle, and the typed operations on it.
//!
//! The handle clunks its fid when dropped (without waiting) or when
//! [`File::clunk`] is awaited; [`File::remove`] consumes it too. A fid is
//! never clunked twice, and a walk's new fid is given back if the walk fails.

use bytes::{Bytes, BytesMut};
use futures::stream::{self, StreamExt, TryStreamExt};

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

/// `data` as `(offset, bytes)` pieces of at most `chunk` bytes, starting at
/// `offset`: one copy of `data`, then slices of it.
fn owned_chunks(offset: u64, data: &[u8], chunk: usize) -> Vec<(u64, Bytes)> {
    let chunk = chunk.max(1);
    let data = Bytes::copy_from_slice(data);
    (0..data.len())
        .step_by(chunk)
        .map(|at| {
            let end = (at + chunk).min(data.len());
            (offset + at as u64, data.slice(at..end))
        })
        .collect()
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
        let newfid = self.client.alloc_fid()?;
        let n = wname.len();
        let msg = Twalk {
            fid: self.fid,
            newfid,
            wname,
        };
        let r = match self.rpc(msg).await {
            Ok(r) => expect!(r, Rwalk)?,
            // The session already freed newfid for an error reply.
            Err(e) => return Err(e),
        };
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

    /// Create and open `name` in this directory; this handle becomes the
    /// new file (9P2000.L).
    pub async fn lcreate(
        &mut self,
        name_: impl AsRef<[u8]>,
        flags: u32,
        mode: u32,
        gid: u32,
    ) -> Result<Qid> {
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

    /// One Tread of at most [`File::io_size`] bytes.
    pub async fn read(&self, offset: u64, count: u32) -> Result<Bytes> {
        let count = count.min(self.io_size());
        let r = expect!(
            self.rpc(Tread {
                fid: self.fid,
                offset,
                count
            })
            .await?,
            Rread
        )?;
        if r.data.0.len() > count as usize {
            return Err(Error::Protocol(format!(
                "Rread of {} bytes for a Tread of {count}",
                r.data.0.len()
            )));
        }
        Ok(r.data.0)
    }

    /// One Twrite; `data` must fit in [`File::io_size`]. Returns bytes written.
    pub async fn write(&self, offset: u64, data: Bytes) -> Result<u32> {
        if data.len() > self.io_size() as usize {
            return Err(Error::Invalid(format!(
                "write of {} bytes exceeds iounit",
                data.len()
            )));
        }
        let n = data.len() as u32;
        let r = expect!(
            self.rpc(Twrite {
                fid: self.fid,
                offset,
                data: Data(data)
            })
            .await?,
            Rwrite
        )?;
        if r.count > n {
            return Err(Error::Protocol(format!(
                "Rwrite of {} for {n} bytes",
                r.count
            )));
        }
        Ok(r.count)
    }

    /// Read `len` bytes from `offset` with up to `depth` Treads in flight.
    /// Stops early at end of file (a short or empty read).
    pub async fn read_at(&self, offset: u64, len: u64, depth: usize) -> Result<Vec<u8>> {
        Ok(self.read_bytes_at(offset, len, depth).await?.into())
    }

    /// [`File::read_at`], the data as `Bytes`.
    ///
    /// The Treads already sent past a short one are awaited, not dropped:
    /// dropping them would cost a Tflush each (and a wait for its Rflush),
    /// where their replies, empty at end of file, are on their way anyway.
    /// A read that fits in one message is returned as the reply's own
    /// buffer, without a copy.
    pub async fn read_bytes_at(&self, offset: u64, len: u64, depth: usize) -> Result<Bytes> {
        let chunk = self.io_size() as u64;
        if len <= chunk {
            return self.read(offset, len as u32).await;
        }
        let mut out = BytesMut::with_capacity(len.min(1 << 30) as usize);
        let mut reads = stream::iter((0..len.div_ceil(chunk)).map(|i| {
            let off = offset + i * chunk;
            self.read(off, chunk.min(offset + len - off) as u32)
        }))
        .buffered(depth.max(1));
        let mut short = false;
        while let Some(data) = reads.next().await {
            if short {
                continue;
            }
            let data = data?;
            short = (data.len() as u64) < chunk.min(len - out.len() as u64);
            out.extend_from_slice(&data);
        }
        Ok(out.freeze())
    }

    /// Write all of `data` at `offset` with up to `depth` Twrites in flight,
    /// each at most [`File::io_size`] bytes. A short write is an error
    /// (`EIO`): 9P servers write all or fail.
    ///
    /// `data` is copied once into owned chunks before anything is sent, so
    /// the future borrows only `self` and stays `Send` wherever it is
    /// awaited (a stream closure over borrowed slices would not be).
    pub async fn write_at(&self, offset: u64, data: &[u8], depth: usize) -> Result<()> {
        let chunks = owned_chunks(offset, data, self.io_size() as usize);
        stream::iter(chunks.into_iter().map(|(off, c)| self.write_exact(off, c)))
            .buffer_unordered(depth.max(1))
            .try_collect()
            .await
    }

    /// One Twrite that must write all of `data`.
    async fn write_exact(&self, off: u64, data: Bytes) -> Result<()> {
        let want = data.len() as u32;
        match self.write(off, data).await? {
            n if n == want => Ok(()),
            n => Err(Error::Remote(RemoteError {
                errno: Some(EIO),
                ename: Some(format!("short write: {n} of {want} bytes at {off}")),
            })),
        }
    }

    /// One Treaddir from `offset` (9P2000.L).
    pub async fn readdir(&self, offset: u64, count: u32) -> Result<Vec<Dirent>> {
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
        let msg = Tlink {
            dfid: self.fid,
            fid: target.fid,
            name: name(name_)?,
        };
        expect!(self.rpc(msg).await?, Rlink).map(drop)
    }

    /// Move this file to `name` in directory `dir` (9P2000.L Trename).
    pub async fn rename(&self, dir: &File, name_: impl AsRef<[u8]>) -> Result<()> {
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
        let msg = Tunlinkat {
            dirfd: self.fid,
            name: name(name_)?,
            flags,
        };
        expect!(self.rpc(msg).await?, Runlinkat).map(drop)
    }

    /// A symlink's target (9P2000.L).
    pub async fn readlink(&self) -> Result<NineStr> {
        Ok(expect!(self.rpc(Treadlink { fid: self.fid }).await?, Rreadlink)?.target)
    }

    /// File system statistics (9P2000.L).
    pub async fn statfs(&self) -> Result<Rstatfs> {
        expect!(self.rpc(Tstatfs { fid: self.fid }).await?, Rstatfs)
    }

    /// Flush to stable storage (9P2000.L).
    pub async fn fsync(&self, datasync: bool) -> Result<()> {
        let msg = Tfsync {
            fid: self.fid,
            datasync: datasync as u32,
        };
        expect!(self.rpc(msg).await?, Rfsync).map(drop)
    }

    /// Take, test-and-take or release a lock; returns the `lock::*` status.
    pub async fn lock(&self, l: &LockSpec, flags: u32) -> Result<u8> {
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
