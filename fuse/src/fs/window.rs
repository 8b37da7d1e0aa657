//! The random-read prefetch of `cache=loose` as the file operations use
//! it (the rules are in `prefetch.rs`): the writer guard of opens and
//! truncations, and reads that fetch a whole window and store the rest.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::kernel::prelude::ReplyData;
use bytes::Bytes;
use tracing::debug;

use super::{Fs, IO_DEPTH};

use crate::errno::Fail;
use crate::handles::{OpenFile, Reads};
use crate::ino::Ino;
use crate::kernel::session::Notifier;
use crate::prefetch::{split, window, Flight, Writer};

/// Whether open flags let the handle change the file's data.
pub(crate) fn writes(flags: u32) -> bool {
    let acc = flags & libc::O_ACCMODE as u32;
    acc != libc::O_RDONLY as u32 || flags & libc::O_TRUNC as u32 != 0
}

impl Fs {
    /// Whether the mount prefetches at all (`cache=loose`, `prefetch=` on).
    pub(crate) fn prefetching(&self) -> bool {
        self.cfg.cache.page_cache() && self.cfg.prefetch > 0
    }

    /// Whether the opens and truncations that can change a file register
    /// with the gate: for the prefetch, or for the read-ahead of
    /// `cache=none` (see `stream.rs`).
    fn gated(&self) -> bool {
        self.prefetching() || self.streaming()
    }

    /// The writer guard of an open of `ino` with `flags` (or of a
    /// truncation, with `O_TRUNC`), taken before the request is sent.
    pub(crate) async fn writer(&self, ino: Ino, flags: u32) -> Option<Writer> {
        match self.gated() && writes(flags) {
            true => Some(self.gate.writer(ino).await),
            false => None,
        }
    }

    /// [`Fs::writer`] for a create of `name` in `parent`: a name the
    /// kernel thought missing may name a file we know, whose stores must
    /// be held off before Tlcreate opens (or truncates) it.
    pub(crate) async fn writer_by_name(
        &self,
        parent: Ino,
        name: &[u8],
        flags: u32,
    ) -> Option<Writer> {
        let ino = self.inodes.child(parent, name)?;
        self.writer(ino, flags).await
    }

    /// The prefetch state of a new handle: it prefetches if it reads
    /// through the page cache (not `direct`); `size` as opened.
    pub(crate) fn reads(&self, writer: Option<Writer>, direct: bool, size: u64) -> Reads {
        Reads {
            _writer: writer,
            prefetch: self.prefetching() && !direct,
            size,
            next: AtomicU64::new(u64::MAX),
            stream: self.stream(direct),
        }
    }

    /// A read of `size` at `offset` through `h` as a window read, if it
    /// qualifies (small, not sequential, a line to the kernel found, no
    /// writer): the window, the line, and the prefetch's flight.
    fn window_for(
        &self,
        ino: Ino,
        h: &OpenFile,
        offset: u64,
        size: u32,
    ) -> Option<((u64, u64), Notifier, Flight)> {
        if !h.reads.prefetch {
            return None;
        }
        let end = offset.saturating_add(size.into());
        if h.reads.next.swap(end, Ordering::Relaxed) == offset {
            return None;
        }
        let w = window(offset, size, self.cfg.prefetch, h.file.io_size())?;
        let dev = self.notifier.get()?.clone();
        Some((w, dev, self.gate.flight(ino)?))
    }

    /// Read `size` bytes at `offset` through `h`, with the window around
    /// them when the read qualifies (see `prefetch.rs`).
    pub(crate) async fn read_through(
        &self,
        ino: Ino,
        h: &Arc<OpenFile>,
        offset: u64,
        size: u32,
    ) -> Result<ReplyData, Fail> {
        if let Some(s) = &h.reads.stream {
            return self.read_streamed(ino, h, s, offset, size).await;
        }
        let Some(((start, len), dev, flight)) = self.window_for(ino, h, offset, size) else {
            let bytes = h.file.read_bytes_at(offset, size.into(), IO_DEPTH).await?;
            return Ok(bytes.into());
        };
        let got = h.file.read_bytes_at(start, len, IO_DEPTH).await?;
        let known = self.cache.attrs.get(ino).map_or(h.reads.size, |a| a.size);
        let (answer, stores) = split(start, got.len() as u64, offset, size, known);
        let parts = stores
            .into_iter()
            .map(|r| (start + r.start, got.slice(r.start as usize..r.end as usize)))
            .collect();
        store_later(dev, ino, parts, flight);
        Ok(got.slice(answer.start as usize..answer.end as usize).into())
    }
}

/// Push `parts` (offset, bytes) of inode `ino` into the page cache, off
/// the runtime's threads (the kernel waits for pages that other reads hold
/// locked) and after the generation check of `flight`. A refusal (the
/// inode forgotten meanwhile) only costs the prefetch.
fn store_later(dev: Notifier, ino: Ino, parts: Vec<(u64, Bytes)>, mut flight: Flight) {
    if parts.is_empty() {
        return;
    }
    tokio::task::spawn_blocking(move || {
        if !flight.may_store() {
            debug!(%ino, "prefetch not stored: the file changed meanwhile");
            return;
        }
        for (offset, data) in parts {
            match dev.store(ino.get(), offset, data) {
                Ok(()) => flight.gate().stored(),
                Err(e) => debug!(%ino, offset, "prefetch store refused: {e}"),
            }
        }
        drop(flight);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writable_or_truncating_opens_are_writers() {
        assert!(!writes(libc::O_RDONLY as u32));
        assert!(writes(libc::O_WRONLY as u32));
        assert!(writes(libc::O_RDWR as u32));
        assert!(writes((libc::O_RDONLY | libc::O_TRUNC) as u32));
    }
}
