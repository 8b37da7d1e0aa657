//! Read-ahead of sequential readers on `cache=none` handles
//! (`-o direct_read_ahead_kb=`): the state of one handle.
//!
//! Why: with direct I/O the kernel sends a synchronous `read(2)` as one
//! FUSE read at a time, so between two of them the server has nothing to
//! do: the last Rread is copied to the caller, the caller asks again, the
//! next Treads go out. On diod over loopback that gap costs a third of the
//! bandwidth a raw client gets. A handle read sequentially (each read
//! starts where the last ended, or at 0) keeps the next reads of the same
//! size in flight, up to the budget in bytes, so the server works through
//! the gap.
//!
//! What it costs `cache=none`'s promise: a read may be answered with bytes
//! the server sent shortly before the read was made. Never older than
//! [`MAX_AGE`], never when a handle that can write the file was open
//! through this mount at any time since the bytes were asked for (the
//! prefetch gate's writer count and generation), and never past a read
//! that does not continue the stream (everything ahead is dropped then).
//! Off by default for that reason.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::task::JoinHandle;

use crate::errno::Fail;
use crate::prefetch::Flight;

/// The oldest read-ahead a read is answered from.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(1);

/// The most reads kept ahead of one handle, whatever the budget.
pub(crate) const MAX_CHUNKS: u64 = 16;

/// One read made ahead: `len` bytes at `at`, asked for at `born`.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub at: u64,
    pub len: u64,
    pub born: Instant,
    /// Says whether a writer came meanwhile.
    pub flight: Flight,
    pub task: JoinHandle<Result<Bytes, Fail>>,
}

impl Chunk {
    /// Whether a read may still be answered from it now.
    pub(crate) fn fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.born) < MAX_AGE && self.flight.unchanged()
    }
}

/// The reads kept ahead of one handle, oldest first, each starting where
/// the one before ends.
#[derive(Debug)]
pub(crate) struct Stream {
    /// The budget in bytes (`direct_read_ahead_kb` × 1024).
    budget: u64,
    ahead: Mutex<VecDeque<Chunk>>,
}

impl Stream {
    /// A stream keeping up to `budget` bytes ahead.
    pub(crate) fn new(budget: u64) -> Stream {
        Stream {
            budget,
            ahead: Mutex::new(VecDeque::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Chunk>> {
        self.ahead.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The chunk that answers a read of `len` bytes at `at`, if the next
    /// one ahead is exactly that; otherwise everything ahead is dropped
    /// (the reader left the stream).
    pub(crate) fn take(&self, at: u64, len: u64) -> Option<Chunk> {
        let mut q = self.lock();
        match q.front() {
            Some(c) if c.at == at && c.len == len => q.pop_front(),
            Some(_) => {
                abort_all(&mut q);
                None
            }
            None => None,
        }
    }

    /// After a full read of `len` bytes ending at `end` that continued the
    /// stream: the ranges to read ahead now, each registered by `start`
    /// (which spawns its read) and kept.
    pub(crate) fn top_up(&self, end: u64, len: u64, mut start: impl FnMut(u64) -> Option<Chunk>) {
        let want = wanted(self.budget, len);
        let mut q = self.lock();
        // Whatever is kept must continue from `end` in steps of `len`.
        let from = match q.back() {
            Some(b) if q.front().is_some_and(|f| f.at == end) && q.iter().all(|c| c.len == len) => {
                b.at + b.len
            }
            Some(_) => {
                abort_all(&mut q);
                end
            }
            None => end,
        };
        let mut at = from;
        while (q.len() as u64) < want {
            let Some(c) = start(at) else { break };
            q.push_back(c);
            at += len;
        }
    }

    /// Drop everything ahead (the handle is released).
    pub(crate) fn clear(&self) {
        abort_all(&mut self.lock());
    }

    /// Reads kept ahead now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// How many reads of `len` bytes to keep ahead within `budget`.
pub(crate) fn wanted(budget: u64, len: u64) -> u64 {
    match len {
        0 => 0,
        _ => (budget / len).min(MAX_CHUNKS),
    }
}

fn abort_all(q: &mut VecDeque<Chunk>) {
    for c in q.drain(..) {
        c.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ino::Ino;
    use crate::prefetch::StoreGate;
    use std::sync::Arc;

    fn chunk(gate: &Arc<StoreGate>, at: u64, len: u64) -> Option<Chunk> {
        Some(Chunk {
            at,
            len,
            born: Instant::now(),
            flight: gate.flight(Ino::from_kernel(5))?,
            task: tokio::spawn(async { Ok(Bytes::new()) }),
        })
    }

    #[test]
    fn budget_counts_whole_reads_up_to_the_cap() {
        assert_eq!(wanted(4 << 20, 1 << 20), 4);
        assert_eq!(wanted(1 << 20, 1 << 20), 1);
        assert_eq!(wanted((1 << 20) - 1, 1 << 20), 0);
        assert_eq!(wanted(1 << 30, 4096), MAX_CHUNKS);
        assert_eq!(wanted(1 << 20, 0), 0);
    }

    #[tokio::test]
    async fn a_sequential_reader_takes_what_was_read_ahead_and_a_jump_drops_it() {
        let gate = Arc::new(StoreGate::default());
        let s = Stream::new(2 << 20);
        let mut started = vec![];
        s.top_up(1 << 20, 1 << 20, |at| {
            started.push(at);
            chunk(&gate, at, 1 << 20)
        });
        assert_eq!(started, [1 << 20, 2 << 20]);
        let c = s.take(1 << 20, 1 << 20).expect("the next read is ahead");
        assert!(c.fresh(Instant::now()));
        started.clear();
        s.top_up(2 << 20, 1 << 20, |at| {
            started.push(at);
            chunk(&gate, at, 1 << 20)
        });
        assert_eq!(started, [3 << 20], "one more after what is kept");
        assert_eq!(s.len(), 2);
        // A read of another size, or elsewhere, leaves the stream.
        assert!(s.take(2 << 20, 4096).is_none());
        assert_eq!(s.len(), 0);
    }

    #[tokio::test]
    async fn a_top_up_that_does_not_continue_what_is_kept_starts_again() {
        let gate = Arc::new(StoreGate::default());
        let s = Stream::new(2 << 20);
        s.top_up(0, 1 << 20, |at| chunk(&gate, at, 1 << 20));
        let mut started = vec![];
        s.top_up(8 << 20, 1 << 20, |at| {
            started.push(at);
            chunk(&gate, at, 1 << 20)
        });
        assert_eq!(started, [8 << 20, 9 << 20]);
    }

    #[tokio::test]
    async fn a_writer_stops_read_ahead_and_spoils_what_was_read() {
        let gate = Arc::new(StoreGate::default());
        let s = Stream::new(1 << 20);
        s.top_up(0, 1 << 20, |at| chunk(&gate, at, 1 << 20));
        let w = gate.writer(Ino::from_kernel(5)).await;
        let c = s.take(0, 1 << 20).expect("kept");
        assert!(!c.fresh(Instant::now()), "a writer opened since");
        s.top_up(1 << 20, 1 << 20, |at| chunk(&gate, at, 1 << 20));
        assert_eq!(s.len(), 0, "nothing read ahead while a writer is open");
        drop(w);
        assert!(!c.fresh(Instant::now()), "the generation moved on");
    }

    #[tokio::test]
    async fn read_ahead_grows_stale() {
        let gate = Arc::new(StoreGate::default());
        let c = chunk(&gate, 0, 1).unwrap();
        assert!(c.fresh(c.born));
        assert!(!c.fresh(c.born + MAX_AGE));
    }
}
