//! Read-ahead of sequential readers on `cache=none` handles
//! (`-o direct_read_ahead_kb=`): the state of one handle.
//!
//! Why: with direct I/O the kernel sends a synchronous `read(2)` as one
//! FUSE read at a time, so between two of them the server has nothing to
//! do: the last Rread is copied to the caller, the caller asks again, the
//! next Treads go out. Behind a network's round trip that gap is most of
//! the time a read takes. A handle read sequentially (each read starting
//! where the last ended, or at 0) keeps the range after its last read in
//! flight, up to the budget, so the server works through the gap.
//!
//! The range is read in chunks that end on multiples of [`CHUNK`] (or of
//! the budget, if smaller), not in the sizes of the reads: a caller's
//! buffer that is not page-aligned makes the kernel split each `read(2)`
//! into a long request and a short one, and the reads then fall inside
//! chunks instead of across them.
//!
//! What it costs `cache=none`'s promise: a read may be answered with bytes
//! the server sent shortly before the read was made. Never older than
//! [`MAX_AGE`], never when a handle that can write the file was open
//! through this mount at any time since the bytes were asked for (the
//! prefetch gate's writer count and generation), and never for a read
//! that does not continue the stream (everything ahead is dropped then).
//! Off by default for that reason.
//!
//! Memory: each handle keeps at most its budget (and [`MAX_CHUNKS`]
//! chunks), and all handles of a mount together at most [`MOUNT_CAP`]
//! ([`Held`]): a program that reads many files at once gets read-ahead for
//! the first of them, not a buffer per file.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::errno::Fail;
use crate::prefetch::Flight;

/// The oldest read-ahead a read is answered from.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(1);

/// The longest chunk: FUSE's largest read.
pub(crate) const CHUNK: u64 = 1 << 20;

/// The most chunks kept ahead of one handle.
pub(crate) const MAX_CHUNKS: usize = 16;

/// The most bytes asked for ahead, of all of a mount's handles together.
pub(crate) const MOUNT_CAP: u64 = 64 << 20;

/// The bytes a mount's chunks ask for, bounded: a semaphore of bytes.
#[derive(Debug)]
pub(crate) struct Held {
    room: Arc<Semaphore>,
    cap: u64,
}

impl Default for Held {
    fn default() -> Held {
        Held::with_cap(MOUNT_CAP)
    }
}

impl Held {
    /// At most `cap` bytes at once.
    pub(crate) fn with_cap(cap: u64) -> Held {
        let cap = cap.min(Semaphore::MAX_PERMITS as u64);
        Held {
            room: Arc::new(Semaphore::new(cap as usize)),
            cap,
        }
    }

    /// Room for `len` more bytes, if there is any; given back when the
    /// permit is dropped.
    pub(crate) fn take(&self, len: u64) -> Option<Permit> {
        let n = u32::try_from(len).ok()?;
        self.room.clone().try_acquire_many_owned(n).ok()
    }

    /// Bytes asked for now.
    pub(crate) fn now(&self) -> u64 {
        self.cap - self.room.available_permits() as u64
    }
}

/// Bytes of a [`Held`], for as long as a chunk lives.
pub(crate) type Permit = OwnedSemaphorePermit;

/// A chunk's bytes: being read, or read.
#[derive(Debug)]
pub(crate) enum Data {
    Pending(JoinHandle<Result<Bytes, Fail>>),
    Ready(Bytes),
}

/// One range read ahead: `len` bytes asked for at `at`, at `born`.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub at: u64,
    pub len: u64,
    pub born: Instant,
    /// Says whether a writer came meanwhile.
    pub flight: Flight,
    /// Its share of the mount's bound.
    pub _permit: Permit,
    pub data: Data,
}

impl Chunk {
    fn end(&self) -> u64 {
        self.at + self.len
    }

    /// Whether a read may still be answered from it now.
    pub(crate) fn fresh(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.born) < MAX_AGE && self.flight.unchanged()
    }
}

/// A chunk let go of before it was read stops its read (its Treads are
/// flushed): nothing runs on for a range nobody will take.
impl Drop for Chunk {
    fn drop(&mut self) {
        if let Data::Pending(task) = &self.data {
            task.abort();
        }
    }
}

/// The chunks kept ahead of one handle, in order and adjacent.
#[derive(Debug)]
pub(crate) struct Stream {
    /// The budget in bytes (`direct_read_ahead_kb` × 1024).
    budget: u64,
    /// Chunks end on multiples of this.
    chunk: u64,
    ahead: Mutex<VecDeque<Chunk>>,
}

impl Stream {
    /// A stream keeping up to `budget` bytes ahead.
    pub(crate) fn new(budget: u64) -> Stream {
        // The largest power of two within both.
        let cap = budget.clamp(1, CHUNK);
        Stream {
            budget,
            chunk: 1 << cap.ilog2(),
            ahead: Mutex::new(VecDeque::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<Chunk>> {
        self.ahead.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The chunks that hold a read of `len` bytes at `at`, taken out in
    /// order, if the ones kept cover it from their front (those wholly
    /// before `at` are dropped first); the last may reach past the read,
    /// for [`Stream::put_back`]. Otherwise everything ahead is dropped:
    /// the reader left the stream.
    pub(crate) fn take(&self, at: u64, len: u64) -> Option<Vec<Chunk>> {
        let mut q = self.lock();
        while q.front().is_some_and(|c| c.end() <= at) {
            q.pop_front();
        }
        let end = at.saturating_add(len);
        let covered =
            q.front().is_some_and(|c| c.at <= at) && q.back().is_some_and(|c| c.end() >= end);
        if !covered {
            q.clear();
            return None;
        }
        let mut got = Vec::new();
        while q.front().is_some_and(|c| c.at < end) {
            got.extend(q.pop_front());
        }
        Some(got)
    }

    /// A chunk taken by [`Stream::take`] whose end the read did not reach:
    /// first again.
    pub(crate) fn put_back(&self, c: Chunk) {
        let mut q = self.lock();
        match q.front() {
            Some(f) if f.at != c.end() => q.clear(),
            _ => {}
        }
        q.push_front(c);
    }

    /// After a full read that continued the stream and ended at `end`:
    /// keep what is ahead of `end` and add chunks up to the budget, each
    /// made by `start(at, len)` (which spawns its read; `None`: no more).
    pub(crate) fn top_up(&self, end: u64, mut start: impl FnMut(u64, u64) -> Option<Chunk>) {
        let mut q = self.lock();
        while q.front().is_some_and(|c| c.end() <= end) {
            q.pop_front();
        }
        if q.front().is_some_and(|c| c.at > end) {
            q.clear();
        }
        let limit = end.saturating_add(self.budget);
        let mut at = q.back().map_or(end, Chunk::end);
        while q.len() < MAX_CHUNKS {
            let next = (at / self.chunk + 1) * self.chunk;
            // Within the budget; only an empty queue takes one chunk past
            // it (a budget smaller than what is left of a chunk).
            if next > limit && !q.is_empty() {
                break;
            }
            let Some(c) = start(at, next - at) else { break };
            q.push_back(c);
            at = next;
        }
    }

    /// Drop everything ahead (the handle is released).
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    /// The ranges kept ahead now.
    #[cfg(test)]
    fn ranges(&self) -> Vec<(u64, u64)> {
        self.lock().iter().map(|c| (c.at, c.len)).collect()
    }
}

/// The bytes of `[at, at + len)` out of chunks (their start, the length
/// asked for and the bytes they got, in order and adjacent): one slice when a single chunk holds
/// them, else joined. A chunk shorter than asked is the end of the file:
/// nothing after it counts.
pub(crate) fn assemble(parts: &[(u64, u64, Bytes)], at: u64, len: u64) -> Bytes {
    let end = at + len;
    let mut pieces = Vec::new();
    for (start, want, got) in parts {
        let from = at.saturating_sub(*start).min(got.len() as u64);
        let to = (end - start).min(got.len() as u64);
        if from < to {
            pieces.push(got.slice(from as usize..to as usize));
        }
        if (got.len() as u64) < *want {
            break;
        }
    }
    match pieces.len() {
        0 => Bytes::new(),
        1 => pieces.pop().unwrap_or_default(),
        _ => pieces.concat().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ino::Ino;
    use crate::prefetch::StoreGate;
    use std::sync::Arc;

    const M: u64 = 1 << 20;

    fn maker(gate: &Arc<StoreGate>) -> impl FnMut(u64, u64) -> Option<Chunk> + '_ {
        let held = Held::with_cap(u64::MAX);
        move |at, len| {
            Some(Chunk {
                at,
                len,
                born: Instant::now(),
                flight: gate.flight(Ino::from_kernel(5))?,
                _permit: held.take(len)?,
                data: Data::Ready(Bytes::new()),
            })
        }
    }

    #[test]
    fn the_mount_holds_at_most_its_cap_and_gets_it_back() {
        let held = Held::with_cap(3 * M);
        let a = held.take(2 * M).expect("room");
        assert!(held.take(2 * M).is_none(), "over the cap");
        let b = held.take(M).expect("room for one more");
        assert_eq!(held.now(), 3 * M);
        drop((a, b));
        assert_eq!(held.now(), 0);
        assert!(held.take(u64::MAX).is_none(), "no overflow");
    }

    fn ranges(v: &[Chunk]) -> Vec<(u64, u64)> {
        v.iter().map(|c| (c.at, c.len)).collect()
    }

    #[test]
    fn chunks_end_on_whole_chunks_up_to_the_budget() {
        let gate = Arc::new(StoreGate::default());
        let s = Stream::new(2 * M);
        s.top_up(M - 16, maker(&gate));
        assert_eq!(s.ranges(), [(M - 16, 16), (M, M)], "none past the budget");
        let small = Stream::new(100 * 1024);
        small.top_up(0, maker(&gate));
        assert_eq!(small.ranges(), [(0, 65536)]);
        let under = Stream::new(M);
        under.top_up(4096, maker(&gate));
        assert_eq!(under.ranges(), [(4096, M - 4096)]);
        under.take(4096, M - 4096).expect("ahead");
        under.top_up(M, maker(&gate));
        assert_eq!(
            under.ranges(),
            [(M, M)],
            "an empty queue takes a whole chunk"
        );
        let big = Stream::new(1 << 30);
        big.top_up(0, maker(&gate));
        assert_eq!(big.ranges().len(), MAX_CHUNKS);
    }

    #[test]
    fn reads_split_by_the_kernel_take_within_chunks() {
        let gate = Arc::new(StoreGate::default());
        let s = Stream::new(M);
        // read(2) of 1 MiB into a buffer 16 bytes past a page: M-16, then 16.
        s.top_up(M - 16, maker(&gate));
        assert_eq!(s.ranges(), [(M - 16, 16)]);
        let got = s.take(M - 16, 16).expect("ahead");
        assert_eq!(ranges(&got), [(M - 16, 16)]);
        s.top_up(M, maker(&gate));
        let mut got = s.take(M, M - 16).expect("ahead");
        assert_eq!(ranges(&got), [(M, M)]);
        s.put_back(got.pop().unwrap());
        s.top_up(2 * M - 16, maker(&gate));
        assert_eq!(s.ranges(), [(M, M)]);
        let got = s.take(2 * M - 16, 16).expect("the rest of the chunk");
        assert_eq!(ranges(&got), [(M, M)]);
        assert!(s.take(2 * M, M + 5).is_none(), "past what is kept");
        assert!(s.ranges().is_empty());
        let s = Stream::new(2 * M);
        s.top_up(0, maker(&gate));
        let got = s.take(M - 8, 16).expect("across two chunks");
        assert_eq!(ranges(&got), [(0, M), (M, M)]);
    }

    #[test]
    fn a_jump_back_or_past_drops_everything() {
        let gate = Arc::new(StoreGate::default());
        let s = Stream::new(2 * M);
        s.top_up(M, maker(&gate));
        assert!(s.take(4096, 4096).is_none());
        assert!(s.ranges().is_empty());
        s.top_up(M, maker(&gate));
        s.top_up(8 * M, maker(&gate));
        assert_eq!(s.ranges(), [(8 * M, M), (9 * M, M)]);
    }

    #[tokio::test]
    async fn a_writer_stops_read_ahead_and_spoils_what_was_read() {
        let gate = Arc::new(StoreGate::default());
        let s = Stream::new(M);
        s.top_up(0, maker(&gate));
        let w = gate.writer(Ino::from_kernel(5)).await;
        let c = s.take(0, M).expect("kept").pop().unwrap();
        assert!(!c.fresh(Instant::now()), "a writer opened since");
        s.top_up(M, maker(&gate));
        assert!(
            s.ranges().is_empty(),
            "nothing read ahead while a writer is open"
        );
        drop(w);
        assert!(!c.fresh(Instant::now()), "the generation moved on");
    }

    #[test]
    fn read_ahead_grows_stale() {
        let gate = Arc::new(StoreGate::default());
        let c = maker(&gate)(0, 1).unwrap();
        assert!(c.fresh(c.born));
        assert!(!c.fresh(c.born + MAX_AGE));
    }

    #[test]
    fn assembling_slices_one_chunk_joins_two_and_stops_at_a_short_one() {
        let a = Bytes::from(vec![1u8; 8]);
        let b = Bytes::from(vec![2u8; 8]);
        let one = assemble(&[(0, 8, a.clone())], 2, 4);
        assert_eq!(&one[..], &[1; 4]);
        assert_eq!(one.as_ptr(), a[2..].as_ptr(), "a slice, not a copy");
        let two = assemble(&[(0, 8, a.clone()), (8, 8, b.clone())], 6, 4);
        assert_eq!(&two[..], &[1, 1, 2, 2]);
        let short = assemble(&[(0, 8, a.slice(..5)), (8, 8, b)], 2, 10);
        assert_eq!(&short[..], &[1, 1, 1], "the file ends in the first chunk");
    }
}
