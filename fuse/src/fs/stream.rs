//! The read-ahead of `cache=none` as reads use it (the rules are in
//! `stream.rs` at the crate's root): answer from what was read ahead, and
//! keep reading ahead of a sequential reader.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use ninep_client::CancelToken;
use tracing::debug;

use super::{Fs, IO_DEPTH};

/// Treads in flight for each read kept ahead: with several kept ahead
/// there are this many times as many. diod over loopback served 8 at once
/// faster than 16 (`scripts/bench-seq-read.sh`: its raw client at depth 8
/// and 16), and behind a round trip more in flight is what counts.
const AHEAD_DEPTH: usize = 8;
use crate::config::CacheMode;
use crate::errno::Fail;
use crate::handles::OpenFile;
use crate::ino::Ino;
use crate::kernel::prelude::ReplyData;
use crate::stream::{assemble, Chunk, Data, Stream};

impl Fs {
    /// Whether `cache=none` reads ahead (`direct_read_ahead_kb` > 0).
    pub(crate) fn streaming(&self) -> bool {
        self.cfg.cache == CacheMode::None && self.cfg.direct_read_ahead_kb > 0
    }

    /// The read-ahead state of a new handle: only a direct-I/O one of a
    /// mount that reads ahead has one.
    pub(crate) fn stream(&self, direct: bool) -> Option<Stream> {
        (direct && self.streaming())
            .then(|| Stream::new(u64::from(self.cfg.direct_read_ahead_kb) * 1024))
    }

    /// A read through a handle that reads ahead: from the chunks kept
    /// ahead for it if they cover it and are still fresh, else from the
    /// server; then, if it continued the stream and was full, the range
    /// after it is kept in flight.
    pub(crate) async fn read_streamed(
        &self,
        ino: Ino,
        h: &Arc<OpenFile>,
        s: &Stream,
        offset: u64,
        size: u32,
    ) -> Result<ReplyData, Fail> {
        let len = u64::from(size);
        let end = offset.saturating_add(len);
        // The first read of a handle starts a stream at 0; a later read at
        // 0 (a header read again and again) does not.
        let last = h.reads.next.swap(end, Ordering::Relaxed);
        let follows = last == offset || (offset == 0 && last == u64::MAX);
        let ahead = match s.take(offset, len) {
            Some(chunks) => answer(s, chunks, offset, len).await?,
            None => None,
        };
        let bytes = match ahead {
            Some(b) => b,
            None => h.file.read_bytes_at(offset, len, IO_DEPTH).await?,
        };
        if follows && bytes.len() as u64 == len {
            s.top_up(end, |at, len| self.read_ahead(ino, h, at, len));
        }
        Ok(bytes.into())
    }

    /// Start reading `len` bytes at `at` ahead, outside any FUSE request
    /// (an interrupt of the read that started it does not flush it), if
    /// no writer has the file open.
    fn read_ahead(&self, ino: Ino, h: &Arc<OpenFile>, at: u64, len: u64) -> Option<Chunk> {
        let permit = self.held.take(len)?;
        let flight = self.gate.flight(ino)?;
        let h = h.clone();
        let task =
            tokio::spawn(async move { Ok(h.file.read_bytes_at(at, len, AHEAD_DEPTH).await?) });
        Some(Chunk {
            at,
            len,
            born: Instant::now(),
            flight,
            _permit: permit,
            data: Data::Pending(task),
        })
    }
}

/// The bytes of `[at, at + len)` from `chunks` (taken from `s`) once
/// read, if every one of them may still answer (`None`: read them from
/// the server); the last chunk goes back to `s` if the read ends inside
/// it. An interrupt of the waiting request ends the wait with EINTR and
/// drops the reads (their Treads are flushed).
async fn answer(s: &Stream, chunks: Vec<Chunk>, at: u64, len: u64) -> Result<Option<Bytes>, Fail> {
    let token = CancelToken::current();
    let mut parts = Vec::with_capacity(chunks.len());
    let mut last = None;
    for mut c in chunks {
        let got = match &mut c.data {
            Data::Ready(b) => Ok(Ok(b.clone())),
            Data::Pending(task) => match &token {
                Some(token) => tokio::select! {
                    r = &mut *task => r,
                    () = token.cancelled() => {
                        task.abort();
                        return Err(Fail(libc::EINTR));
                    }
                },
                None => task.await,
            },
        };
        let bytes = match got {
            Ok(Ok(bytes)) if c.fresh(Instant::now()) => bytes,
            Ok(Ok(_)) => {
                debug!(at = c.at, "read ahead but stale: read again");
                return Ok(None);
            }
            Ok(Err(e)) => {
                debug!(at = c.at, "read ahead failed ({e:?}): read again");
                return Ok(None);
            }
            Err(_) => return Ok(None),
        };
        parts.push((c.at, c.len, bytes.clone()));
        c.data = Data::Ready(bytes);
        last = Some(c);
    }
    let out = assemble(&parts, at, len);
    if let Some(c) = last.filter(|c| c.at + c.len > at + len) {
        s.put_back(c);
    }
    Ok(Some(out))
}
