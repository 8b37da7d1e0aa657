//! Creates answered before their attributes arrive (`cache=loose`,
//! 9P2000.L).
//!
//! A create needs three round trips when done in order: the Tlcreate, then
//! the new file's Tgetattr (with the walk to its own fid), and for a
//! `touch` the Tsetattr of its times. The kernel's reply to a create only
//! needs the new inode's number and type, which the Tlcreate's qid gives;
//! so the create is answered as soon as the Tlcreate is, with predicted
//! attributes (an empty regular file of the caller's) given a TTL of zero.
//! The kernel stores such attributes as already expired (`attr_valid` 0 is
//! time 0 to it) and asks for them (FUSE getattr) before it uses them for a
//! stat, a permission check or a read past the size; the name's entry too
//! is looked up again at its next use. Meanwhile the Tgetattr and the walk
//! go on in the background: the file is *settling*.
//!
//! Whatever needs the file's attributes or its own fid (a getattr, a
//! lookup, a setattr other than of times alone, any walk from its fid)
//! waits until it has settled. A setattr of times alone, the `touch` that
//! follows a create, sends its Tsetattr at once through the create's open
//! fid (the caller's own), alongside the background Tgetattr, and answers
//! from that Tgetattr's attributes with the times applied. A `touch` of a
//! new file then costs two round trips instead of three, and nothing the
//! kernel keeps is a guess.
//!
//! The name's entry, given with that TTL of zero too, is owed: the next
//! lookup of the name, if it still names the file and the attributes have
//! come, is answered from the table without a Twalk and with the full TTL
//! ([`Early::owed`]), as the create would have been.
//!
//! The background Tgetattr's answer is kept only if nothing changed the
//! file's cached attributes while it was out (`AttrCache::settled`): a
//! write that came in meanwhile drops it, and the next getattr asks again.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::ino::Ino;
use lru::LruCache;
use tokio::sync::watch;

/// How many owed entries are kept (a few hundred bytes each); one dropped
/// costs its lookup a Twalk.
const OWED: usize = 4096;

/// An entry owed: directory, name.
type Name = (Ino, Box<[u8]>);

/// The files settling now, by inode (see the module doc); `H` names the
/// create's open handle (its `fh`).
#[derive(Debug)]
pub(crate) struct Early<H> {
    map: Mutex<HashMap<Ino, Entry<H>>>,
    /// How many entries `map` holds, read without the lock: every fid and
    /// attribute lookup asks [`Early::settled`], and almost always nothing
    /// is settling.
    len: AtomicUsize,
    next: AtomicU64,
    /// Entries given with a TTL of zero: the inode and the uid they were
    /// made for.
    owed: Mutex<LruCache<Name, (Ino, u32)>>,
}

impl<H> Default for Early<H> {
    fn default() -> Self {
        Early {
            map: Mutex::default(),
            len: AtomicUsize::new(0),
            next: AtomicU64::new(0),
            owed: Mutex::new(LruCache::new(NonZeroUsize::new(OWED).expect("non-zero"))),
        }
    }
}

#[derive(Debug)]
struct Entry<H> {
    /// Tells the settling's end to whoever waits.
    done: watch::Receiver<()>,
    /// Which settling this is (an inode may settle again later).
    token: u64,
    /// Whose create it was, and its open fid.
    uid: u32,
    open: H,
}

/// A file settling: dropped when its background work is over, which ends
/// the wait of everyone waiting for it.
#[derive(Debug)]
pub(crate) struct Settling<H> {
    early: Arc<Early<H>>,
    ino: Ino,
    token: u64,
    _done: watch::Sender<()>,
}

impl<H> Drop for Settling<H> {
    fn drop(&mut self) {
        let mut map = self.early.lock();
        if map.get(&self.ino).is_some_and(|e| e.token == self.token) {
            map.remove(&self.ino);
            self.early.len.store(map.len(), Ordering::Release);
        }
        // The sender goes with `self`: its receivers wake.
    }
}

impl<H> Early<H> {
    fn lock(&self) -> MutexGuard<'_, HashMap<Ino, Entry<H>>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<H: Clone> Early<H> {
    /// Start the settling of `ino`, just created by `uid` and open as
    /// `open`; `None` if it is settling already (the caller then does
    /// its work in order).
    pub(crate) fn start(self: &Arc<Self>, ino: Ino, uid: u32, open: H) -> Option<Settling<H>> {
        let mut map = self.lock();
        if map.contains_key(&ino) {
            return None;
        }
        let token = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = watch::channel(());
        let entry = Entry {
            done: rx,
            token,
            uid,
            open,
        };
        map.insert(ino, entry);
        self.len.store(map.len(), Ordering::Release);
        Some(Settling {
            early: self.clone(),
            ino,
            token,
            _done: tx,
        })
    }

    /// Wait until `ino` is not settling (at once if it is not).
    pub(crate) async fn settled(&self, ino: Ino) {
        if self.len.load(Ordering::Acquire) == 0 {
            return;
        }
        let Some(mut done) = self.lock().get(&ino).map(|e| e.done.clone()) else {
            return;
        };
        // Nothing is ever sent: the wait ends when the sender is dropped.
        while done.changed().await.is_ok() {}
    }

    /// The open fid of `ino`'s create if it is settling and was created by
    /// `uid`: a setattr of its times can go through it at once.
    pub(crate) fn open_of(&self, ino: Ino, uid: u32) -> Option<H> {
        let map = self.lock();
        let e = map.get(&ino)?;
        (e.uid == uid).then(|| e.open.clone())
    }

    /// The entry of `name` in `dir` (inode `ino`, made by `uid`) went to
    /// the kernel with a TTL of zero.
    pub(crate) fn owe(&self, dir: Ino, name: &[u8], ino: Ino, uid: u32) {
        let mut owed = self.owed.lock().unwrap_or_else(|e| e.into_inner());
        owed.put((dir, name.into()), (ino, uid));
    }

    /// Whether the entry of `name` in `dir` for `uid` is owed, as inode
    /// `ino`: then it is paid (forgotten).
    pub(crate) fn owed(&self, dir: Ino, name: &[u8], uid: u32, ino: Ino) -> bool {
        let mut owed = self.owed.lock().unwrap_or_else(|e| e.into_inner());
        let key = (dir, Box::<[u8]>::from(name));
        match owed.peek(&key) {
            Some(&(i, u)) if (i, u) == (ino, uid) => owed.pop(&key).is_some(),
            _ => false,
        }
    }

    /// How many files are settling.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_wake_when_the_settling_ends_and_not_before() {
        let early = Arc::new(Early::<&str>::default());
        early.settled(Ino::from_kernel(7)).await; // not settling: no wait
        let s = early
            .start(Ino::from_kernel(7), 1000, "fid")
            .expect("not settling yet");
        assert!(
            early.start(Ino::from_kernel(7), 1000, "again").is_none(),
            "one at a time"
        );
        let mut wait = Box::pin(early.settled(Ino::from_kernel(7)));
        assert!(futures::poll!(&mut wait).is_pending());
        assert_eq!(early.len(), 1);
        assert_eq!(early.open_of(Ino::from_kernel(7), 1000), Some("fid"));
        assert_eq!(
            early.open_of(Ino::from_kernel(7), 0),
            None,
            "another user's fid is not lent"
        );
        drop(s);
        assert!(futures::poll!(&mut wait).is_ready());
        assert_eq!(
            (early.len(), early.open_of(Ino::from_kernel(7), 1000)),
            (0, None)
        );
    }

    #[test]
    fn an_owed_entry_is_paid_once_to_its_maker_for_the_same_file() {
        let early = Early::<()>::default();
        early.owe(Ino::from_kernel(1), b"f", Ino::from_kernel(9), 1000);
        assert!(
            !early.owed(Ino::from_kernel(1), b"f", 0, Ino::from_kernel(9)),
            "another user"
        );
        assert!(
            !early.owed(Ino::from_kernel(1), b"f", 1000, Ino::from_kernel(8)),
            "the name names another file"
        );
        assert!(
            !early.owed(Ino::from_kernel(1), b"g", 1000, Ino::from_kernel(9))
                && !early.owed(Ino::from_kernel(2), b"f", 1000, Ino::from_kernel(9))
        );
        assert!(early.owed(Ino::from_kernel(1), b"f", 1000, Ino::from_kernel(9)));
        assert!(
            !early.owed(Ino::from_kernel(1), b"f", 1000, Ino::from_kernel(9)),
            "paid"
        );
    }

    #[test]
    fn an_old_settling_does_not_end_a_newer_one() {
        let early = Arc::new(Early::<()>::default());
        let old = early.start(Ino::from_kernel(3), 0, ()).expect("first");
        // As if the old one's entry had been replaced (it cannot be while it
        // lives; the token guards the drop all the same).
        early.lock().remove(&Ino::from_kernel(3));
        let new = early.start(Ino::from_kernel(3), 0, ()).expect("second");
        drop(old);
        assert_eq!(early.len(), 1, "the newer settling stays");
        drop(new);
        assert_eq!(early.len(), 0);
    }
}
