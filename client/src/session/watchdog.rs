//! The watchdog's part of the session: which requests have waited too
//! long for their reply.
//!
//! A request is stamped the first time [`Session::watch`] sees it in
//! flight, not when it is started, so that starting one needs no clock;
//! its age is therefore understated by at most the time between two
//! passes of the caller's watchdog, and a request is never reported early.
//! Each request is reported once (a server that hangs must not fill the
//! log), and counted in [`super::Stats::overdue_requests`].

use std::time::{Duration, Instant};

use super::{Entry, Session};
use crate::ids::Tag;

/// A request in flight for longer than the watchdog's threshold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overdue {
    /// Its tag.
    pub tag: Tag,
    /// Its message type name (`Tread`, ...).
    pub name: &'static str,
    /// How long it has waited at least.
    pub waited: Duration,
    /// Whether the caller cancelled it (Tflush sent) and still waits for
    /// the server to settle it.
    pub flushed: bool,
}

/// How often a watchdog with threshold `after` should look: a quarter of
/// it, between 10 ms and 1 s (so a report is at most that late).
pub fn watch_period(after: Duration) -> Duration {
    (after / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
}

impl<W> Session<W> {
    /// Requests in flight for `after` or longer at `now` that were not
    /// reported before (see the module doc).
    pub fn watch(&mut self, now: Instant, after: Duration) -> Vec<Overdue> {
        let mut out = Vec::new();
        for (&tag, e) in self.entries.iter_mut() {
            let Entry::Request(req) = e else {
                continue;
            };
            let seen = *req.seen.get_or_insert(now);
            let waited = now.saturating_duration_since(seen);
            if req.overdue || waited < after {
                continue;
            }
            req.overdue = true;
            out.push(Overdue {
                tag,
                name: req.name,
                waited,
                flushed: req.chain.is_some(),
            });
        }
        self.stats.overdue_requests += out.len() as u64;
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::ids::Fid;
    use crate::session::{FlushPolicy, Session};
    use crate::wire::{Tmessage, Tread};

    fn read() -> Tmessage {
        Tmessage::Tread(Tread {
            fid: Fid(1),
            offset: 0,
            count: 10,
        })
    }

    #[test]
    fn requests_are_reported_once_and_never_before_their_time() {
        let mut s: Session<u32> = Session::new(FlushPolicy::default());
        let t0 = Instant::now();
        let sec = Duration::from_secs(1);
        let (tag, _) = s.start(&read(), Some(1)).unwrap();
        assert!(s.watch(t0, 10 * sec).is_empty(), "first seen now");
        assert!(s.watch(t0 + 9 * sec, 10 * sec).is_empty());
        let late = s.watch(t0 + 10 * sec, 10 * sec);
        assert_eq!(late.len(), 1);
        assert_eq!((late[0].tag, late[0].name), (tag, "Tread"));
        assert_eq!(late[0].waited, 10 * sec);
        assert!(s.watch(t0 + 60 * sec, 10 * sec).is_empty(), "once");
        assert_eq!(s.stats().overdue_requests, 1);
        // A request started later is timed from its own first sighting.
        s.start(&read(), Some(2)).unwrap();
        assert!(s.watch(t0 + 61 * sec, 10 * sec).is_empty());
        assert_eq!(s.watch(t0 + 71 * sec, 10 * sec).len(), 1);
        assert_eq!(s.stats().overdue_requests, 2);
    }
}
