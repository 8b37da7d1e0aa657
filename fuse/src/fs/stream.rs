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
use crate::stream::{Chunk, Stream};

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

    /// A read through a handle that reads ahead: from the read kept ahead
    /// for it if there is one still fresh, else from the server; then,
    /// if it continued the stream and was full, the next ones are started.
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
        let follows = h.reads.next.swap(end, Ordering::Relaxed) == offset || offset == 0;
        let ahead = match s.take(offset, len) {
            Some(c) => answer(c).await?,
            None => None,
        };
        let bytes = match ahead {
            Some(b) => b,
            None => h.file.read_bytes_at(offset, len, IO_DEPTH).await?,
        };
        if follows && bytes.len() as u64 == len {
            s.top_up(end, len, |at| self.read_ahead(ino, h, at, len));
        }
        Ok(bytes.into())
    }

    /// Start reading `len` bytes at `at` ahead, outside any FUSE request
    /// (an interrupt of the read that started it does not flush it), if
    /// no writer has the file open.
    fn read_ahead(&self, ino: Ino, h: &Arc<OpenFile>, at: u64, len: u64) -> Option<Chunk> {
        let flight = self.gate.flight(ino)?;
        let h = h.clone();
        let task =
            tokio::spawn(async move { Ok(h.file.read_bytes_at(at, len, AHEAD_DEPTH).await?) });
        Some(Chunk {
            at,
            len,
            born: Instant::now(),
            flight,
            task,
        })
    }
}

/// The bytes of `c` once read, if they may still answer (`None`: read
/// them again); an interrupt of the waiting request ends the wait with
/// EINTR and drops the read (its Treads are flushed).
async fn answer(mut c: Chunk) -> Result<Option<Bytes>, Fail> {
    let got = match CancelToken::current() {
        Some(token) => tokio::select! {
            r = &mut c.task => r,
            () = token.cancelled() => {
                c.task.abort();
                return Err(Fail(libc::EINTR));
            }
        },
        None => (&mut c.task).await,
    };
    match got {
        Ok(Ok(bytes)) if c.fresh(Instant::now()) => Ok(Some(bytes)),
        Ok(Ok(_)) => {
            debug!(at = c.at, "read ahead but stale: read again");
            Ok(None)
        }
        Ok(Err(e)) => {
            debug!(at = c.at, "read ahead failed ({e:?}): read again");
            Ok(None)
        }
        Err(_) => Ok(None),
    }
}
