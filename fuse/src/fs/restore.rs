//! After a reconnect (`-o reconnect`, see `reconnect.rs`): the mount's
//! state moved to the new connection. Every fid of the old one is dropped
//! (the inodes walk again by name from a new attach when next used), and
//! every open file and directory is walked to by its inode's path and
//! opened again with its original flags (never creating or truncating).
//! A handle that cannot be opened again stays as it was: its uses fail
//! with EIO. POSIX locks taken through the old connection are gone with
//! it (the server dropped them).

use std::sync::Arc;

use futures::stream::{self, StreamExt};
use ninep_client::File;
use tracing::{debug, warn};

use super::Fs;
use crate::errno::Fail;
use crate::handles::{Handle, OpenDir, OpenFile};
use crate::ino::Ino;

/// `O_DIRECTORY` as 9P2000.L carries it.
const O_DIRECTORY: u32 = libc::O_DIRECTORY as u32;
/// Handles opened again at once.
const REOPEN_DEPTH: usize = 8;

impl Fs {
    /// Move the mount to the new connection, whose attach is `root`.
    pub(crate) async fn restore(&self, root: File) {
        if self.inodes.qid(Ino::ROOT).map(|q| q.path) != Some(root.qid().path) {
            warn!("the root has another qid after reconnecting: known files may be stale");
        }
        self.inodes.retain_fids(|f| self.conn.owns(f));
        self.inodes
            .set_fid(Ino::ROOT, self.cfg.attach.n_uname, root);
        let all = self.handles.snapshot();
        let n = all.len();
        stream::iter(all)
            .for_each_concurrent(REOPEN_DEPTH, |(fh, h)| async move {
                match self.reopen(&h).await {
                    Ok(Some(new)) => drop(self.handles.replace(fh, &h, new)),
                    Ok(None) => {}
                    Err(Fail(errno)) => warn!(fh, errno, "cannot open again after reconnecting"),
                }
            })
            .await;
        debug!(handles = n, "reopened after reconnecting");
    }

    /// `h` opened again on the current connection (`None`: it is already).
    async fn reopen(&self, h: &Handle) -> Result<Option<Handle>, Fail> {
        match h {
            Handle::File(f) if !self.conn.owns(&f.file) => {
                let o = f.origin;
                let file = self.open_again(o.ino, o.uid, o.flags).await?;
                let open = OpenFile {
                    file,
                    lock_owners: Default::default(),
                    origin: o,
                    reads: f.reads.clone(),
                };
                Ok(Some(Handle::File(Arc::new(open))))
            }
            Handle::Dir(d) if d.file.get().is_some_and(|f| !self.conn.owns(f)) => {
                let flags = libc::O_RDONLY as u32 | O_DIRECTORY;
                let file = self.open_again(d.ino, d.uid, flags).await?;
                let listing = d.listing.try_lock().ok().and_then(|l| l.clone());
                let dir = OpenDir {
                    file: tokio::sync::OnceCell::new_with(Some(file)),
                    ino: d.ino,
                    uid: d.uid,
                    listing: tokio::sync::Mutex::new(listing),
                    lookahead: Default::default(),
                };
                Ok(Some(Handle::Dir(Arc::new(dir))))
            }
            _ => Ok(None),
        }
    }

    /// A new fid for `ino`, walked by its path for `uid` and opened.
    async fn open_again(&self, ino: Ino, uid: u32, flags: u32) -> Result<File, Fail> {
        self.with_fid(ino, uid, |base| async move {
            let mut file = base.walk::<&[u8]>(&[]).await?;
            file.lopen(flags).await?;
            Ok(file)
        })
        .await
    }
}
