//! A few reusable buffers for the data of large writes and reads.
//!
//! Why: a FUSE write of 1 MiB is copied once into a buffer of ours, whose
//! pieces (`Bytes` slices, one per Twrite) live until the writer task has
//! sent them. Allocating that buffer afresh for every write made the
//! allocator hand pages back to the kernel and fault them in again: page
//! faults and page zeroing took about a sixth of the mount's CPU time on
//! `dd bs=1M` (perf). The pool keeps the last few buffers instead; a
//! buffer comes back when the last piece of it is dropped.
//!
//! Reads the same ([`ReadPool`]): a large read is placed into one window
//! of ours, handed out as `Bytes` (to the kernel's reply). A handle on the
//! last few windows is kept; one the reply no longer holds is ours alone
//! again and is reused for the next read. The allocator otherwise faulted
//! the window's pages in afresh for each 1 MiB read once a file storm had
//! fragmented its heap: page faults and zeroing were a quarter of the
//! mount's CPU time, and `cache=loose` reads a quarter slower after a
//! storm than before it (measured with perf).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};

/// Data smaller than this is copied into a fresh allocation: small writes
/// should not hold a big buffer.
const POOL_MIN: usize = 64 << 10;
/// Buffers kept, and the largest kept (FUSE writes are at most 1 MiB).
const KEEP: usize = 4;
const KEEP_CAPACITY: usize = 2 << 20;

/// Buffers for [`BufPool::copy`].
#[derive(Debug, Default)]
pub(crate) struct BufPool {
    free: Mutex<Vec<Vec<u8>>>,
}

/// A buffer lent out by the pool, given back when dropped.
struct Lent {
    buf: Vec<u8>,
    pool: Arc<BufPool>,
}

impl AsRef<[u8]> for Lent {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if self.buf.capacity() > KEEP_CAPACITY {
            return;
        }
        let mut free = self.pool.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < KEEP {
            free.push(std::mem::take(&mut self.buf));
        }
    }
}

impl BufPool {
    /// `data` copied into `Bytes`, in a reused buffer if it is large.
    pub(crate) fn copy(self: &Arc<Self>, data: &[u8]) -> Bytes {
        if data.len() < POOL_MIN {
            return Bytes::copy_from_slice(data);
        }
        let reused = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let mut buf = reused.unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(data);
        Bytes::from_owner(Lent {
            buf,
            pool: self.clone(),
        })
    }

    /// Buffers waiting to be reused.
    #[cfg(test)]
    fn free(&self) -> usize {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// Read windows handed out, kept for reuse (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct ReadPool {
    /// The last few windows handed out, oldest first.
    kept: Mutex<VecDeque<Bytes>>,
}

impl ReadPool {
    /// An empty buffer of at least `cap` bytes: a kept window that no one
    /// else holds any more, or a new one.
    pub(crate) fn window(&self, cap: usize) -> BytesMut {
        if (POOL_MIN..=KEEP_CAPACITY).contains(&cap) {
            let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
            for _ in 0..kept.len() {
                let Some(b) = kept.pop_front() else { break };
                match b.try_into_mut() {
                    Ok(mut w) if w.capacity() >= cap => {
                        w.clear();
                        return w;
                    }
                    // Too small for this read: let it go.
                    Ok(_) => {}
                    Err(still_held) => kept.push_back(still_held),
                }
            }
        }
        BytesMut::with_capacity(cap)
    }

    /// Keep a handle on `data` (a whole window just filled) to reuse it
    /// once its other holders drop it; the oldest handle goes when more
    /// than a few are kept.
    pub(crate) fn keep(&self, data: &Bytes) {
        if !(POOL_MIN..=KEEP_CAPACITY).contains(&data.len()) {
            return;
        }
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.len() >= KEEP {
            kept.pop_front();
        }
        kept.push_back(data.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_is_reused_once_the_reply_lets_go_of_it() {
        let pool = ReadPool::default();
        let mut w = pool.window(POOL_MIN * 2);
        w.extend_from_slice(&vec![5u8; POOL_MIN * 2]);
        let at = w.as_ptr();
        let data = w.freeze();
        pool.keep(&data);
        // Still held by the reply: a new window.
        let other = pool.window(POOL_MIN * 2);
        assert_ne!(other.as_ptr(), at);
        drop(data);
        let again = pool.window(POOL_MIN);
        assert_eq!(again.as_ptr(), at, "the same memory, reused");
        assert!(again.is_empty() && again.capacity() >= POOL_MIN * 2);
        // Small windows and small data are never pooled.
        assert!(pool.window(100).capacity() < POOL_MIN);
    }

    #[test]
    fn only_the_last_few_windows_are_kept() {
        let pool = ReadPool::default();
        let mut windows: Vec<Bytes> = (0..KEEP + 2)
            .map(|i| Bytes::from(vec![i as u8; POOL_MIN]))
            .collect();
        for w in &windows {
            pool.keep(w);
        }
        // The two oldest stay held here (so their memory cannot come back
        // as a new allocation); the rest are let go.
        let newest: Vec<_> = windows.split_off(2).iter().map(|w| w.as_ptr()).collect();
        let reused: Vec<_> = (0..KEEP).map(|_| pool.window(POOL_MIN)).collect();
        for w in &reused {
            assert!(newest.contains(&w.as_ptr()), "reused one of the newest");
        }
        drop(windows);
        // The pool let go of the two oldest: nothing left to reuse.
        assert!(pool.kept.lock().unwrap().is_empty());
    }

    #[test]
    fn a_buffer_comes_back_when_its_last_piece_is_dropped() {
        let pool = Arc::new(BufPool::default());
        let data = vec![7u8; POOL_MIN * 2];
        let b = pool.copy(&data);
        assert_eq!(&b[..], &data[..]);
        let piece = b.slice(10..20);
        drop(b);
        assert_eq!(pool.free(), 0, "a piece still points into it");
        drop(piece);
        assert_eq!(pool.free(), 1);
        // Reused: the pool is empty while it is lent out again.
        let again = pool.copy(&data[..POOL_MIN]);
        assert_eq!(pool.free(), 0);
        assert_eq!(again.len(), POOL_MIN);
        // Small data is not pooled.
        drop(again);
        let small = pool.copy(b"abc");
        drop(small);
        assert_eq!(pool.free(), 1);
    }

    #[test]
    fn it_keeps_only_a_few_buffers() {
        let pool = Arc::new(BufPool::default());
        let data = vec![1u8; POOL_MIN];
        let lent: Vec<Bytes> = (0..KEEP + 3).map(|_| pool.copy(&data)).collect();
        drop(lent);
        assert_eq!(pool.free(), KEEP);
    }
}
