//! FUSE interrupts onto Tflush: a map from the FUSE request id (`unique`)
//! of every request being served to the [`CancelToken`] its 9P requests
//! run under.
//!
//! Each handler registers its `unique` before its first 9P request and
//! runs its requests inside `token.scope(..)`; the guard removes the entry
//! when the handler ends. FUSE_INTERRUPT for a registered `unique` cancels
//! the token: every 9P request of that handler in flight gets a Tflush (one
//! more per later interrupt, up to the flush policy), and the handler then
//! gets the real reply if it won the race or `Flushed` -> `EINTR`.
//!
//! An interrupt can reach us before the handler it targets has started:
//! the session reads requests in order but runs each in its own task, and
//! passes on only interrupts for requests it still serves. One whose
//! handler has not registered yet is held (the last [`EARLY_KEPT`]), and
//! the handler's token starts cancelled when it registers. (Answering
//! EAGAIN instead makes the kernel queue the interrupt again at once: a
//! busy loop for as long as the handler takes to start.) Never `ENOSYS`:
//! that switches interrupts off for the whole mount.
//!
//! Each entry also says what the request is ([`Op`]) and since when it is
//! served, for the watchdog ([`Interrupts::overdue`]).

use crate::ino::Ino;
use std::collections::HashMap;
use std::num::NonZeroUsize;

use lru::LruCache;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ninep_client::CancelToken;

/// Counters of interrupts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InterruptStats {
    /// FUSE_INTERRUPT requests received.
    pub seen: u64,
    /// Of those, the ones whose request was being served (token cancelled).
    pub delivered: u64,
    /// Of those, the ones that came before their handler started, held
    /// until it did.
    pub retried: u64,
    /// FUSE requests the watchdog found served for too long (each once).
    pub overdue: u64,
}

/// What a FUSE request is: its operation and the inode it is about (the
/// directory, for operations on a name in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Op {
    pub name: &'static str,
    pub ino: Ino,
}

impl Op {
    /// Operation `name` on inode `ino`.
    pub(crate) const fn new(name: &'static str, ino: Ino) -> Op {
        Op { name, ino }
    }
}

/// A request being served.
#[derive(Debug)]
struct Entry {
    token: CancelToken,
    op: Op,
    since: Instant,
    reported: bool,
}

/// A request served for longer than the watchdog's threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Overdue {
    pub unique: u64,
    pub op: Op,
    pub waited: Duration,
}

/// Interrupts held for handlers that have not started: requests the
/// session serves, whose task has not run yet. A handler that never
/// registers (an operation that does not reach the server) leaves its
/// entry here until newer ones push it out.
const EARLY_KEPT: usize = 256;

/// The requests being served, and the interrupts held for the ones not
/// yet registered.
#[derive(Debug)]
struct Table {
    served: HashMap<u64, Entry>,
    /// Looked up by every registration: a map, not a list to scan.
    early: LruCache<u64, ()>,
}

impl Default for Table {
    fn default() -> Self {
        Table {
            served: HashMap::new(),
            early: LruCache::new(NonZeroUsize::new(EARLY_KEPT).expect("non-zero")),
        }
    }
}

/// The map (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct Interrupts {
    map: Mutex<Table>,
    seen: AtomicU64,
    delivered: AtomicU64,
    retried: AtomicU64,
    overdue: AtomicU64,
}

/// A registration; removes itself when dropped.
pub(crate) struct Registered<'a> {
    table: &'a Interrupts,
    unique: u64,
    token: CancelToken,
}

impl Registered<'_> {
    /// The token the handler's 9P requests run under.
    pub(crate) fn token(&self) -> &CancelToken {
        &self.token
    }
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.table.lock().served.remove(&self.unique);
    }
}

impl Interrupts {
    fn lock(&self) -> MutexGuard<'_, Table> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Register request `unique`, an `op`, for the life of the returned
    /// guard.
    pub(crate) fn register(&self, unique: u64, op: Op) -> Registered<'_> {
        let token = CancelToken::new();
        let entry = Entry {
            token: token.clone(),
            op,
            since: Instant::now(),
            reported: false,
        };
        let mut t = self.lock();
        if t.early.pop(&unique).is_some() {
            token.cancel();
        }
        t.served.insert(unique, entry);
        drop(t);
        Registered {
            table: self,
            unique,
            token,
        }
    }

    /// FUSE_INTERRUPT for `unique`, a request the session serves: cancel
    /// its token, or hold the interrupt until its handler registers.
    pub(crate) fn interrupt(&self, unique: u64) {
        self.seen.fetch_add(1, Ordering::Relaxed);
        let mut t = self.lock();
        match t.served.get(&unique).map(|e| e.token.clone()) {
            Some(token) => {
                drop(t);
                self.delivered.fetch_add(1, Ordering::Relaxed);
                token.cancel();
            }
            None => {
                t.early.put(unique, ());
                self.retried.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Whether request `unique` has been interrupted (for waits that are
    /// not 9P requests, such as the pause between tries of a lock).
    pub(crate) fn cancelled(&self, unique: u64) -> bool {
        self.lock()
            .served
            .get(&unique)
            .is_some_and(|e| e.token.cancels() > 0)
    }

    /// Requests served for `after` or longer at `now`, each returned once.
    pub(crate) fn overdue(&self, now: Instant, after: Duration) -> Vec<Overdue> {
        let mut out = Vec::new();
        for (&unique, e) in self.lock().served.iter_mut() {
            let waited = now.saturating_duration_since(e.since);
            if !e.reported && waited >= after {
                e.reported = true;
                out.push(Overdue {
                    unique,
                    op: e.op,
                    waited,
                });
            }
        }
        self.overdue.fetch_add(out.len() as u64, Ordering::Relaxed);
        out
    }

    /// Requests registered now.
    pub(crate) fn in_service(&self) -> usize {
        self.lock().served.len()
    }

    /// The counters.
    pub(crate) fn stats(&self) -> InterruptStats {
        InterruptStats {
            seen: self.seen.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            retried: self.retried.load(Ordering::Relaxed),
            overdue: self.overdue.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OP: Op = Op {
        name: "read",
        ino: Ino::from_kernel(7),
    };

    #[test]
    fn requests_served_too_long_are_reported_once() {
        let intr = Interrupts::default();
        let _reg = intr.register(9, OP);
        let now = Instant::now();
        let sec = Duration::from_secs(1);
        assert!(intr.overdue(now, 10 * sec).is_empty());
        let late = intr.overdue(now + 11 * sec, 10 * sec);
        assert_eq!(late.len(), 1);
        assert_eq!((late[0].unique, late[0].op), (9, OP));
        assert!(late[0].waited >= 10 * sec);
        assert!(intr.overdue(now + 60 * sec, 10 * sec).is_empty(), "once");
        assert_eq!(intr.stats().overdue, 1);
    }

    #[test]
    fn registered_requests_are_cancelled_and_early_interrupts_held() {
        let intr = Interrupts::default();
        {
            let reg = intr.register(5, OP);
            assert_eq!(intr.in_service(), 1);
            intr.interrupt(5);
            intr.interrupt(5);
            assert_eq!(reg.token().cancels(), 2);
        }
        assert_eq!(intr.in_service(), 0);
        // Before its handler registers: held, and the token starts
        // cancelled.
        intr.interrupt(7);
        let reg = intr.register(7, OP);
        assert_eq!(reg.token().cancels(), 1);
        drop(reg);
        assert_eq!(intr.register(7, OP).token().cancels(), 0, "used once");
        let s = intr.stats();
        assert_eq!((s.seen, s.delivered, s.retried), (3, 2, 1));
        // Held interrupts are bounded.
        for u in 100..100 + 2 * EARLY_KEPT as u64 {
            intr.interrupt(u);
        }
        assert_eq!(intr.lock().early.len(), EARLY_KEPT);
        assert_eq!(intr.register(100, OP).token().cancels(), 0, "pushed out");
    }
}
