//! Allocators for tags and fids.
//!
//! Both hand out the number that has been free the longest (FIFO), so that
//! a late or duplicate reply from a misbehaving server most likely lands on
//! a tag that is free, where it is caught as a violation, instead of on one
//! just reused by another request (DESIGN.md, flush rule 7).

use std::collections::{BTreeSet, VecDeque};

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

/// Fid numbers, lowest free first: some servers refuse large ones
/// (nfs-ganesha answers ERANGE from 1024 on), so the numbers in use stay
/// close to their count. A freed number waits in a queue until
/// `FID_REUSE_DELAY` others have been freed after it, so it is not
/// handed out again right after its clunk (unless none other is left).
/// The numbers are capped: at first by what `Fid` can hold, later by what
/// the server was found to accept ([`FidAllocator::cap`]).
#[derive(Debug)]
pub struct FidAllocator {
    /// Never handed out yet: this and up.
    next: u32,
    /// Freed, oldest first, still waiting.
    recent: VecDeque<Fid>,
    /// Freed long enough ago.
    free: BTreeSet<u32>,
    in_use: usize,
    /// Numbers from this up are never handed out.
    limit: u32,
}

/// Freed fids wait in the queue until this many have piled up, so a number
/// is not handed out again right after its clunk.
const FID_REUSE_DELAY: usize = 256;

impl FidAllocator {
    /// The whole fid space (NOFID excluded).
    pub fn new() -> Self {
        Self::with_limit(NOFID.0)
    }

    /// Numbers below `limit` only (small ones test exhaustion).
    pub fn with_limit(limit: u32) -> Self {
        FidAllocator {
            next: 0,
            recent: VecDeque::new(),
            free: BTreeSet::new(),
            in_use: 0,
            limit,
        }
    }

    /// The lowest free fid, or `None` when all below the cap are in use.
    pub fn alloc(&mut self) -> Option<Fid> {
        while self.recent.len() > FID_REUSE_DELAY {
            if let Some(f) = self.recent.pop_front() {
                self.free.insert(f.0);
            }
        }
        let fid = match self.free.first() {
            Some(&n) if n < self.limit => {
                self.free.remove(&n);
                Fid(n)
            }
            _ if self.next < self.limit => {
                self.next += 1;
                Fid(self.next - 1)
            }
            // Every number below the cap is in use or just freed: the
            // oldest freed one, rather than none.
            _ => {
                let at = self.recent.iter().position(|f| f.0 < self.limit)?;
                self.recent.remove(at)?
            }
        };
        self.in_use += 1;
        Some(fid)
    }

    /// `fid` is free again (its clunk was answered, or it was never sent).
    pub fn release(&mut self, fid: Fid) {
        debug_assert!(self.in_use > 0);
        self.in_use = self.in_use.saturating_sub(1);
        self.recent.push_back(fid);
    }

    /// Fids allocated and not released.
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// Hand out numbers below `limit` only from now on (numbers in use
    /// above it stay valid until released). Lowers the cap, never raises.
    pub fn cap(&mut self, limit: u32) {
        self.limit = self.limit.min(limit);
        self.free.retain(|&n| n < limit);
        self.recent.retain(|f| f.0 < limit);
    }

    /// The cap: numbers from here up are never handed out.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Whether the fids in use come near the cap, when there is one lower
    /// than the whole space: time to let go of fids kept only to save
    /// walks.
    pub fn near_cap(&self) -> bool {
        let limit = self.limit as usize;
        self.limit < NOFID.0 && self.in_use + (limit / 16).max(1) >= limit
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
    fn fids_are_lowest_free_first_and_capped() {
        let mut f = FidAllocator::new();
        let a: Vec<Fid> = (0..600).map(|_| f.alloc().unwrap()).collect();
        for &x in &a[..300] {
            f.release(x);
        }
        // 300 freed: 44 of them aged past the delay, lowest first.
        assert_eq!(f.alloc(), Some(Fid(0)));
        assert_eq!(f.alloc(), Some(Fid(1)));
        f.cap(500);
        assert_eq!(f.limit(), 500);
        let mut most = 0;
        while let Some(x) = f.alloc() {
            assert!(x.0 < 500, "{x:?} past the cap");
            most = most.max(x.0);
        }
        assert_eq!(f.in_use(), 600, "below the cap, every number in use");
        assert_eq!(most, 299);
        f.cap(1000);
        assert_eq!(f.limit(), 500, "a cap is never raised");
        let mut g = FidAllocator::new();
        assert!(!g.near_cap());
        g.cap(32);
        for _ in 0..29 {
            g.alloc().unwrap();
        }
        assert!(!g.near_cap());
        g.alloc().unwrap();
        g.alloc().unwrap();
        assert!(g.near_cap());
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
