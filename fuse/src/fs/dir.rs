//! Directories: opendir, readdir, releasedir, fsyncdir, and the listing
//! both readdir and readdirplus serve from.
//!
//! The listing is read whole (repeated Treaddir) at the first readdir from
//! offset 0 and kept in the handle, so a directory of 10,000 entries costs
//! a few large Treaddirs however small the kernel's buffers are, and the
//! offsets the kernel hands back (an index into the listing, plus one)
//! stay valid while others change the directory. A readdir from offset 0
//! again (rewinddir) reads it afresh. In `cache=loose` a fresh listing
//! from the mount's listing cache (see `dircache.rs`) serves instead of the
//! server, at opendir's first readdir and at rewinddir alike.
//!
//! Names are checked on the way in (see `names.rs`): bad ones are dropped
//! and logged. The server's own `.` and `..` are replaced by ours: `.` is
//! the directory, `..` its parent in the inode table.
//!
//! readdir (without plus) gives each entry the inode number the table has
//! for its `qid.path`, or, for a file the kernel has not looked up, a
//! number from `qid.path` with the top bit set (the kernel only passes it
//! on as `d_ino`; a later lookup gets the real inode).

use std::sync::Arc;
use std::time::Instant;

use crate::kernel::prelude::*;
use futures::stream::{self, BoxStream, StreamExt};
use ninep_client::wire::{Dirent, Qid};
use ninep_client::File;
use tracing::warn;

use super::Fs;
use crate::attr::kind_of_dtype;
use crate::dircache::Listing;
use crate::errno::Fail;
use crate::handles::{DirEntry, Handle, OpenDir};
use crate::ino::Ino;
use crate::names::reject_reason;

/// `O_DIRECTORY` as 9P2000.L carries it.
const O_DIRECTORY: u32 = libc::O_DIRECTORY as u32;
/// `DT_DIR`.
const DT_DIR: u8 = 4;
/// Top bit of readdir inode numbers for files the kernel has not looked up.
const UNSEEN: u64 = 1 << 63;

impl Fs {
    /// With the page cache an opendir opens nothing on the server yet
    /// (see [`Fs::dir_file`]), unless only the server checks what other
    /// users may do (its open is the check). With `cache=none` it opens
    /// at once.
    pub(crate) async fn do_opendir(&self, req: &Request, ino: Ino) -> Result<ReplyOpen, Fail> {
        let uid = self.who(req);
        let file = tokio::sync::OnceCell::new();
        if !self.cfg.cache.page_cache() || self.cfg.server_checks_others() {
            let _ = file.set(self.open_dir_fid(ino, uid).await?);
        }
        let dir = OpenDir {
            file,
            ino,
            uid,
            listing: Default::default(),
            lookahead: Default::default(),
        };
        let fh = self.handles.insert(Handle::Dir(Arc::new(dir)));
        Ok(ReplyOpen { fh, flags: 0 })
    }

    pub(crate) fn open_dir(&self, fh: u64) -> Result<Arc<OpenDir>, Fail> {
        self.handles.dir(fh).ok_or(Fail(libc::EBADF))
    }

    /// A new opened fid of directory `ino` for `uid`.
    pub(crate) async fn open_dir_fid(&self, ino: Ino, uid: u32) -> Result<File, Fail> {
        self.with_fid(ino, uid, |base| async move {
            let mut file = base.walk::<&[u8]>(&[]).await?;
            file.lopen(libc::O_RDONLY as u32 | O_DIRECTORY).await?;
            Ok(file)
        })
        .await
    }

    /// The opened fid of `dir`, opened now if this is its first need
    /// (a listing the cache could not give, an fsyncdir): a directory
    /// listed from the cache costs no Twalk, Tlopen nor Tclunk.
    pub(crate) async fn dir_file<'a>(&self, dir: &'a OpenDir) -> Result<&'a File, Fail> {
        dir.file
            .get_or_try_init(|| self.open_dir_fid(dir.ino, dir.uid))
            .await
    }

    /// The listing of `dir`, read afresh at offset 0 or when not read yet
    /// (from the loose listing cache when it has a fresh one).
    pub(crate) async fn listing(
        &self,
        dir: &OpenDir,
        offset: u64,
    ) -> Result<Arc<Vec<DirEntry>>, Fail> {
        let mut cached = dir.listing.lock().await;
        match &*cached {
            Some(l) if offset != 0 => Ok(l.clone()),
            _ => {
                let body = match self.cached_listing(dir).await {
                    Some(body) => body,
                    None => self.read_listing(dir).await?,
                };
                let l = Arc::new(self.with_dots(dir, &body));
                *cached = Some(l.clone());
                Ok(l)
            }
        }
    }

    /// The listing the cache has for `dir`, if it may serve: fresh, or
    /// older with the directory's mtime unchanged since (its attributes
    /// as trusted, or a Tgetattr).
    async fn cached_listing(&self, dir: &OpenDir) -> Option<Arc<[DirEntry]>> {
        match self.cache.dirs.get(dir.ino)? {
            Listing::Fresh(body) => Some(body),
            Listing::IfUnchanged(mtime, body) => {
                let now = self.attrs(dir.ino, dir.uid).await.ok()?;
                if (now.mtime_sec, now.mtime_nsec) == mtime {
                    self.cache.dirs.confirmed(dir.ino, mtime);
                    Some(body)
                } else {
                    self.cache.dirs.stale(dir.ino);
                    None
                }
            }
        }
    }

    /// The server's entries of `dir` (checked), kept in the listing cache
    /// with the directory's mtime as trusted before the read (if it is).
    async fn read_listing(&self, dir: &OpenDir) -> Result<Arc<[DirEntry]>, Fail> {
        let generation = self.cache.dirs.generation();
        let known = self.cache.known.generation();
        let mtime = self
            .cache
            .attrs
            .get(dir.ino)
            .map(|a| (a.mtime_sec, a.mtime_nsec));
        let at = Instant::now();
        let raw = self.dir_file(dir).await?.readdir_all().await?;
        let body: Arc<[DirEntry]> = entries_of(dir.ino, raw).into();
        self.cache
            .dirs
            .put(dir.ino, (generation, mtime), at, body.clone());
        let names = body.iter().map(|e| &e.name[..]);
        let by = (dir.uid, mtime);
        self.cache.known.listed(dir.ino, by, known, at, names);
        Ok(body)
    }

    /// Our `.` and `..` for `dir`, then `body`.
    fn with_dots(&self, dir: &OpenDir, body: &[DirEntry]) -> Vec<DirEntry> {
        let own = self
            .inodes
            .qid(dir.ino)
            .or_else(|| dir.file.get().map(File::qid))
            .unwrap_or_default();
        let parent = self.inodes.parent(dir.ino).unwrap_or(dir.ino);
        let parent_qid = self.inodes.qid(parent).unwrap_or(own);
        let mut out = Vec::with_capacity(body.len() + 2);
        out.push(dot(b".", own));
        out.push(dot(b"..", parent_qid));
        out.extend_from_slice(body);
        out
    }

    /// The inode number readdir shows for `e` (see the module doc).
    pub(crate) fn dirent_ino(&self, dir: &OpenDir, index: usize, e: &DirEntry) -> u64 {
        match index {
            0 => dir.ino.get(),
            1 => self.inodes.parent(dir.ino).unwrap_or(dir.ino).get(),
            _ => self
                .inodes
                .by_path(e.qid.path)
                .map_or(e.qid.path | UNSEEN, Ino::get),
        }
    }

    pub(crate) async fn do_readdir(
        &self,
        _ino: Ino,
        fh: u64,
        offset: i64,
    ) -> Result<ReplyDirectory<BoxStream<'_, crate::kernel::Result<DirectoryEntry>>>, Fail> {
        let dir = self.open_dir(fh)?;
        let start = usize::try_from(offset).map_err(|_| Fail(libc::EINVAL))?;
        let listing = self.listing(&dir, start as u64).await?;
        let entries = stream::iter(start..listing.len()).map(move |i| {
            let e = &listing[i];
            Ok(DirectoryEntry {
                inode: self.dirent_ino(&dir, i, e),
                kind: kind_of_dtype(e.ty),
                name: os_name(&e.name),
                offset: i as i64 + 1,
            })
        });
        Ok(ReplyDirectory {
            entries: entries.boxed(),
        })
    }

    pub(crate) async fn do_releasedir(&self, fh: u64) -> Result<(), Fail> {
        match self.handles.remove(fh) {
            Some(Handle::Dir(d)) => {
                // Prefetched entries hold fids: let them go first.
                d.lookahead.lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some(file) = Arc::try_unwrap(d).ok().and_then(|d| d.file.into_inner()) {
                    file.clunk().await?;
                }
                Ok(())
            }
            Some(Handle::File(_)) | None => Err(Fail(libc::EBADF)),
        }
    }

    pub(crate) async fn do_fsyncdir(&self, fh: u64, datasync: bool) -> Result<(), Fail> {
        let d = self.open_dir(fh)?;
        Ok(self.dir_file(&d).await?.fsync(datasync).await?)
    }
}

/// The entries of directory `ino` the kernel may see from the server's
/// `raw`: every entry whose name is a valid component (the server's `.`
/// and `..` are dropped, ours are added at each use; the others are logged
/// and dropped).
pub(crate) fn entries_of(ino: Ino, raw: Vec<Dirent>) -> Vec<DirEntry> {
    let mut out = Vec::with_capacity(raw.len());
    for d in raw {
        let name = d.name.as_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        if let Some(why) = reject_reason(name) {
            warn!(dir = %ino, name = ?d.name.to_str_lossy(), "skipping entry from server: {why}");
            continue;
        }
        out.push(DirEntry {
            name: name.into(),
            qid: d.qid,
            ty: d.ty,
        });
    }
    out
}

fn dot(name: &[u8], qid: Qid) -> DirEntry {
    DirEntry {
        name: name.into(),
        qid,
        ty: DT_DIR,
    }
}

/// A name as the kernel's `OsString`.
pub(crate) fn os_name(b: &[u8]) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::OsStr::from_bytes(b).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ninep_client::wire::NineStr;

    fn dirent(name: &[u8], path: u64) -> Dirent {
        Dirent {
            qid: Qid {
                ty: 0,
                version: 0,
                path,
            },
            offset: path,
            ty: 8,
            name: NineStr::new(name.to_vec()).unwrap(),
        }
    }

    #[test]
    fn bad_names_never_reach_the_kernel() {
        let raw = vec![
            dirent(b".", 1),
            dirent(b"..", 0),
            dirent(b"ok", 10),
            dirent(b"a/b", 11),
            dirent(b"", 12),
            dirent(b"nul\0", 13),
            dirent(b"..", 14),
            dirent(b"...", 15),
        ];
        let names: Vec<_> = entries_of(Ino::from_kernel(1), raw)
            .into_iter()
            .map(|e| (e.name.to_vec(), e.qid.path))
            .collect();
        let want: Vec<(Vec<u8>, u64)> = vec![(b"ok".to_vec(), 10), (b"...".to_vec(), 15)];
        assert_eq!(names, want);
    }
}
