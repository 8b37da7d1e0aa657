//! Allocators for tags and fids.
//!
//! Both hand out the number that has been free the longest (FIFO), so that
//! a late or duplicate reply from a misbehaving server most likely lands on
//! a tag that is free, where it is caught as a violation, instead of on one
//! just reused by another request (DESIGN.md, flush rule 7).

use std::collections::VecDeque;

use crate::ids::{Fid, Tag, NOFID, NOTAG};

/// Tags kept back for Tflush, so a table full of requests can still cancel.
pub const FLUSH_RESERVE: u16 = 64;

/// The tag space: `0..NOTAG`, split into a pool for requests and a small
/// reserve for flushes.
#[derive(Debug)]
pub struct TagAllocator {
    free: VecDeque<Tag>,
    reserve: VecDeque<Tag>,
    limit: usize,
}

impl TagAllocator {
    /// All 65535 tags free; the top [`FLUSH_RESERVE`] kept for flushes.
    pub fn new() -> Self {
        Self::with_size(NOTAG.0)
    }

    /// A smaller tag space (`0..size`), for tests of exhaustion.
    pub fn with_size(size: u16) -> Self {
        let reserve = FLUSH_RESERVE.min(size / 2);
        let split = size - reserve;
        TagAllocator {
            free: (0..split).map(Tag).collect(),
            reserve: (split..size).map(Tag).collect(),
            limit: split as usize,
        }
    }

    /// A tag for a request, or `None` when all are taken.
    pub fn alloc(&mut self) -> Option<Tag> {
        self.free.pop_front()
    }

    /// A tag for a Tflush. From the common pool while it is at least half
    /// free (its long FIFO makes a late Rflush land on a free tag); from the
    /// reserve when requests crowd the pool, so a full table can still cancel.
    pub fn alloc_flush(&mut self) -> Option<Tag> {
        if self.free.len() > self.limit / 2 {
            return self.free.pop_front();
        }
        self.reserve.pop_front().or_else(|| self.free.pop_front())
    }

    /// A tag for clean-up the client owes the server (a Tclunk of a fid
    /// nobody owns): the common pool, else the reserve.
    pub fn alloc_any(&mut self) -> Option<Tag> {
        self.free.pop_front().or_else(|| self.reserve.pop_front())
    }

    /// Return a tag; it goes to the back of its queue.
    pub fn release(&mut self, tag: Tag) {
        if (tag.0 as usize) < self.limit {
            self.free.push_back(tag);
        } else {
            self.reserve.push_back(tag);
        }
    }

    /// Request tags currently free.
    pub fn free_count(&self) -> usize {
        self.free.len()
    }

    /// Size of the request pool.
    pub fn capacity(&self) -> usize {
        self.limit
    }
}

impl Default for TagAllocator {
    fn default() -> Self {
        Self::new()
    }
}

/// Fid numbers: fresh ones counted up from 0, freed ones reused oldest first
/// once the fresh ones run out of a window, so numbers are not reused at once.
#[derive(Debug)]
pub struct FidAllocator {
    next: u32,
    free: VecDeque<Fid>,
    in_use: usize,
    limit: u32,
}

/// Freed fids wait in the queue until this many have piled up, so a number
/// is not handed out again right after its clunk.
const FID_REUSE_DELAY: usize = 256;

impl FidAllocator {
    /// Every fid but `NOFID` available.
    pub fn new() -> Self {
        Self::with_limit(NOFID.0)
    }

    /// Only `0..limit`, for tests of exhaustion.
    pub fn with_limit(limit: u32) -> Self {
        FidAllocator {
            next: 0,
            free: VecDeque::new(),
            in_use: 0,
            limit,
        }
    }

    /// A free fid, or `None` when all are in use.
    pub fn alloc(&mut self) -> Option<Fid> {
        let fid = if self.free.len() > FID_REUSE_DELAY || self.next >= self.limit {
            self.free.pop_front()?
        } else {
            let f = Fid(self.next);
            self.next += 1;
            f
        };
        self.in_use += 1;
        Some(fid)
    }

    /// Return a fid the server no longer knows.
    pub fn release(&mut self, fid: Fid) {
        debug_assert!(self.in_use > 0);
        self.in_use = self.in_use.saturating_sub(1);
        self.free.push_back(fid);
    }

    /// Fids allocated and not yet released.
    pub fn in_use(&self) -> usize {
        self.in_use
    }
}

impl Default for FidAllocator {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_reused_oldest_released_first() {
        let mut t = TagAllocator::with_size(8);
        let a: Vec<_> = std::iter::from_fn(|| t.alloc()).collect();
        assert_eq!(a.len(), 4, "half of a tiny space is the flush reserve");
        t.release(a[2]);
        t.release(a[0]);
        assert_eq!(t.alloc(), Some(a[2]));
        assert_eq!(t.alloc(), Some(a[0]));
        assert_eq!(t.alloc(), None);
        assert!(t.alloc_flush().is_some(), "flushes still get a tag");
    }

    #[test]
    fn full_space_never_hands_out_notag() {
        let mut t = TagAllocator::new();
        let mut n = 0;
        while let Some(tag) = t.alloc() {
            assert_ne!(tag, NOTAG);
            n += 1;
        }
        while let Some(tag) = t.alloc_flush() {
            assert_ne!(tag, NOTAG);
            n += 1;
        }
        assert_eq!(n, 65535);
    }

    #[test]
    fn fids_exhaust_and_are_not_reused_at_once() {
        let mut f = FidAllocator::with_limit(3);
        let a = f.alloc().unwrap();
        let _b = f.alloc().unwrap();
        let _c = f.alloc().unwrap();
        assert_eq!(f.alloc(), None);
        f.release(a);
        assert_eq!(f.alloc(), Some(a));
        assert_eq!(f.in_use(), 3);

        let mut f = FidAllocator::new();
        let a = f.alloc().unwrap();
        f.release(a);
        assert_ne!(
            f.alloc(),
            Some(a),
            "a fresh number comes before a reused one"
        );
    }
}
