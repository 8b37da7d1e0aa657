//! A few reusable buffers for the data of large writes.
//!
//! Why: a FUSE write of 1 MiB is copied once into a buffer of ours, whose
//! pieces (`Bytes` slices, one per Twrite) live until the writer task has
//! sent them. Allocating that buffer afresh for every write made the
//! allocator hand pages back to the kernel and fault them in again: page
//! faults and page zeroing took about a sixth of the mount's CPU time on
//! `dd bs=1M` (perf). The pool keeps the last few buffers instead; a
//! buffer comes back when the last piece of it is dropped.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

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

#[cfg(test)]
mod tests {
    use super::*;

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
