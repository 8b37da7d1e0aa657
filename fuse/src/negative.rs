//! Names a lookup found missing on the server, with the page cache, for
//! the time the kernel's negative entry for them lasts.
//!
//! Why: the kernel asks again for a name it holds a negative entry for
//! whenever it is about to make that name (a lookup with `LOOKUP_EXCL`:
//! `open(O_CREAT | O_EXCL)`, `mkdir`, `link`, `symlink`, `mknod`), however
//! young the entry. `git add` checks that each object is missing, then
//! links its temporary file to that name: without this, two Twalks that
//! fail, one after the other, for each object in a directory whose names
//! are not all known (`complete.rs`). Answering the second from here
//! promises no more than the negative entry the kernel was given: a name
//! made on the server by someone else meanwhile shows after that entry's
//! TTL, and making it through the mount fails with EEXIST from the
//! server, as it would have.
//!
//! Per uid, as `complete.rs` (with `access=user` another user's lookup may
//! be refused rather than missing). Our own changes make names exist
//! ([`Negatives::made`]); a change that failed, which may have made a name
//! after all, forgets the directory's ([`Negatives::forget`]). Bounded:
//! [`ENTRIES`] names, the least recently used dropped first.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::ino::Ino;
use lru::LruCache;

/// How many missing names are kept (about 80 bytes each).
const ENTRIES: usize = 4096;

/// A directory and a name in it.
type Key = (Ino, Box<[u8]>);

/// The missing names (see the module doc); `ttl` zero disables it.
#[derive(Debug)]
pub(crate) struct Negatives {
    ttl: Duration,
    /// When each name was found missing, and by whom.
    lru: Mutex<LruCache<Key, (Instant, u32)>>,
    /// Bumped by each change made through the mount (see
    /// [`Negatives::asking`]).
    generation: AtomicU64,
}

/// A lookup about to ask the server: when, and the changes seen so far.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asking {
    at: Instant,
    generation: u64,
}

impl Negatives {
    /// Missing names trusted for `ttl`.
    pub(crate) fn new(ttl: Duration) -> Negatives {
        let n = NonZeroUsize::new(ENTRIES).expect("non-zero");
        Negatives {
            ttl,
            lru: Mutex::new(LruCache::new(n)),
            generation: AtomicU64::new(0),
        }
    }

    /// Taken before a lookup asks the server, for [`Negatives::note`].
    pub(crate) fn asking(&self) -> Asking {
        Asking {
            at: Instant::now(),
            generation: self.generation.load(Ordering::SeqCst),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<Key, (Instant, u32)>> {
        self.lru.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The server said `name` is not in `dir` to a lookup by `uid` that
    /// started as `asked` says. Not kept if the mount changed anything
    /// since: the answer may predate a name we made meanwhile.
    pub(crate) fn note(&self, dir: Ino, name: &[u8], uid: u32, asked: Asking) {
        if self.ttl.is_zero() {
            return;
        }
        let mut lru = self.lock();
        if self.generation.load(Ordering::SeqCst) == asked.generation {
            lru.put((dir, name.into()), (asked.at, uid));
        }
    }

    /// Whether `name` was found missing from `dir` by `uid` less than a
    /// TTL ago.
    pub(crate) fn missing(&self, dir: Ino, name: &[u8], uid: u32) -> bool {
        if self.ttl.is_zero() {
            return false;
        }
        let mut lru = self.lock();
        // Every lookup asks: the key's copy of the name only when needed.
        if lru.is_empty() {
            return false;
        }
        let key = (dir, Box::<[u8]>::from(name));
        match lru.get(&key) {
            Some(&(at, u)) if at.elapsed() < self.ttl => u == uid,
            Some(_) => {
                lru.pop(&key);
                false
            }
            None => false,
        }
    }

    /// `name` was made in `dir` through the mount (or may have been).
    pub(crate) fn made(&self, dir: Ino, name: &[u8]) {
        let mut lru = self.lock();
        self.generation.fetch_add(1, Ordering::SeqCst);
        lru.pop(&(dir, Box::<[u8]>::from(name)));
    }

    /// A change in `dir` failed and may have made any name: forget its
    /// missing names.
    pub(crate) fn forget(&self, dir: Ino) {
        let mut lru = self.lock();
        self.generation.fetch_add(1, Ordering::SeqCst);
        let gone: Vec<Key> = lru
            .iter()
            .filter(|((d, _), _)| *d == dir)
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            lru.pop(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn kept_for_the_ttl_per_uid_until_made() {
        let n = Negatives::new(LONG);
        n.note(Ino::from_kernel(1), b"a", 1000, n.asking());
        assert!(n.missing(Ino::from_kernel(1), b"a", 1000));
        assert!(
            !n.missing(Ino::from_kernel(1), b"a", 1001),
            "another user asks the server"
        );
        assert!(
            !n.missing(Ino::from_kernel(2), b"a", 1000)
                && !n.missing(Ino::from_kernel(1), b"b", 1000)
        );
        n.made(Ino::from_kernel(1), b"a");
        assert!(!n.missing(Ino::from_kernel(1), b"a", 1000));
        let now = n.asking();
        n.note(Ino::from_kernel(1), b"a", 1000, now);
        n.note(Ino::from_kernel(1), b"b", 1000, now);
        n.note(Ino::from_kernel(2), b"a", 1000, now);
        n.forget(Ino::from_kernel(1));
        assert!(
            !n.missing(Ino::from_kernel(1), b"a", 1000)
                && !n.missing(Ino::from_kernel(1), b"b", 1000)
        );
        assert!(n.missing(Ino::from_kernel(2), b"a", 1000));
    }

    #[test]
    fn an_answer_older_than_a_change_is_not_kept() {
        let n = Negatives::new(LONG);
        let asked = n.asking();
        n.made(Ino::from_kernel(7), b"other");
        n.note(Ino::from_kernel(1), b"a", 0, asked);
        assert!(!n.missing(Ino::from_kernel(1), b"a", 0));
    }

    #[test]
    fn nothing_kept_without_a_ttl_or_past_it() {
        let off = Negatives::new(Duration::ZERO);
        off.note(Ino::from_kernel(1), b"a", 0, off.asking());
        assert!(!off.missing(Ino::from_kernel(1), b"a", 0));
        let n = Negatives::new(Duration::from_secs(1));
        let mut old = n.asking();
        old.at -= Duration::from_secs(2);
        n.note(Ino::from_kernel(1), b"a", 0, old);
        assert!(!n.missing(Ino::from_kernel(1), b"a", 0));
    }

    #[test]
    fn bounded() {
        let n = Negatives::new(LONG);
        let now = n.asking();
        for i in 0..(ENTRIES as u64 + 10) {
            n.note(Ino::from_kernel(i), b"x", 0, now);
        }
        assert_eq!(n.lock().len(), ENTRIES);
        assert!(
            !n.missing(Ino::from_kernel(0), b"x", 0)
                && n.missing(Ino::from_kernel(ENTRIES as u64 + 9), b"x", 0)
        );
    }
}
