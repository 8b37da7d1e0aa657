//! [`Poller`]: an epoll set of our own over the descriptors a mount's
//! events come from, for a runtime that looks for its next event for a
//! moment before it sleeps (`-o busy_poll=`, the mount's `runtime.rs`).
//!
//! Why our own set: tokio keeps its epoll instance private, and the
//! descriptors the mount waits on are few and known where they are made.
//! Whoever builds the runtime makes a `Poller`, and hands clones of it to
//! the places that open those descriptors: [`Client::connect`] adds every
//! socket it dials ([`Config::poller`], reconnects included) and the FUSE
//! mount adds its `/dev/fuse` device. Anything else that brings the mount
//! its events (an io_uring's descriptor) is added the same way, with
//! [`Poller::add`].
//!
//! Each descriptor is watched level-triggered for input: the set is
//! pending for as long as one of them has something to read, whatever has
//! been looked at before. Looking consumes nothing, so tokio's own epoll
//! (edge-triggered, its own registrations) still hears of every event.
//!
//! Nothing is ever removed. epoll watches open file descriptions, not
//! descriptor numbers: once the last descriptor of a watched file is closed
//! (a lost connection's socket), the file leaves the set by itself, and a
//! number reused by another file is not watched unless it too is added. A
//! file kept open elsewhere stays watched; were it readable and never
//! read, each look would end at once, which costs nothing but what busy
//! polling would have saved.
//!
//! What the set does not see: wakeups from other threads, which go to
//! tokio's private eventfd. [`Poller::look`] takes a second test for those
//! (the mount's runtime asks whether its queue of tasks woken from other
//! threads holds any); whatever neither sees (a timer due) is seen up to
//! the look's budget late.
//!
//! [`Client::connect`]: crate::Client::connect
//! [`Config::poller`]: crate::Config::poller

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustix::event::epoll;
use rustix::event::Timespec;

/// An epoll set to look at before sleeping (see the module doc). Cheap to
/// clone: the clones share one set. Equal when they are clones of one.
#[derive(Clone)]
pub struct Poller {
    epoll: Arc<OwnedFd>,
}

impl Poller {
    /// A new, empty set.
    pub fn new() -> io::Result<Poller> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        Ok(Poller {
            epoll: Arc::new(epoll),
        })
    }

    /// Watch `fd` for input (level-triggered) until its file is closed.
    /// Adding a descriptor already watched changes nothing.
    pub fn add(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let data = epoll::EventData::new_u64(fd.as_raw_fd() as u64);
        match epoll::add(&*self.epoll, fd, data, epoll::EventFlags::IN) {
            Err(rustix::io::Errno::EXIST) => Ok(()),
            r => Ok(r?),
        }
    }

    /// True when a watched descriptor has something to read (or is in
    /// error, or hung up). An error of the set itself counts as pending,
    /// so that a look ends rather than spin on a broken set.
    pub fn pending(&self) -> bool {
        let mut one = [std::mem::MaybeUninit::<epoll::Event>::uninit(); 1];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        match epoll::wait(self.epoll.as_fd(), &mut one, Some(&now)) {
            Ok((ready, _)) => !ready.is_empty(),
            Err(_) => true,
        }
    }

    /// Look for up to `budget`, without sleeping, until something is
    /// pending in the set or `elsewhere` finds work (a runtime's queue of
    /// tasks woken by other threads); whether either did.
    pub fn look(&self, budget: Duration, mut elsewhere: impl FnMut() -> bool) -> bool {
        let start = Instant::now();
        loop {
            if self.pending() || elsewhere() {
                return true;
            }
            if start.elapsed() >= budget {
                return false;
            }
            std::hint::spin_loop();
        }
    }
}

impl fmt::Debug for Poller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Poller")
            .field("epoll", &self.epoll.as_raw_fd())
            .finish()
    }
}

impl PartialEq for Poller {
    fn eq(&self, other: &Poller) -> bool {
        Arc::ptr_eq(&self.epoll, &other.epoll)
    }
}

impl Eq for Poller {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    /// A connected pair: what is written to the first is readable on the
    /// second.
    fn pair() -> (UnixStream, UnixStream) {
        let (a, b) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        (a, b)
    }

    fn drain(s: &mut UnixStream) {
        let mut buf = [0; 64];
        while s.read(&mut buf).is_ok_and(|n| n > 0) {}
    }

    #[test]
    fn a_watched_descriptor_is_pending_while_it_has_something_to_read() {
        let p = Poller::new().unwrap();
        let (mut w, mut r) = pair();
        p.add(r.as_fd()).unwrap();
        p.add(r.as_fd()).unwrap(); // twice: no error
        assert!(!p.pending(), "nothing written yet");
        w.write_all(b"x").unwrap();
        // Level-triggered: looking consumes nothing.
        for _ in 0..3 {
            assert!(p.pending(), "unread data");
        }
        drain(&mut r);
        assert!(!p.pending(), "read");
        w.write_all(b"y").unwrap();
        assert!(p.clone().pending(), "clones share the set");
    }

    #[test]
    fn a_closed_file_leaves_the_set_and_its_number_reused_is_not_watched() {
        let p = Poller::new().unwrap();
        let (mut w, r) = pair();
        let number = r.as_raw_fd();
        p.add(r.as_fd()).unwrap();
        w.write_all(b"x").unwrap();
        assert!(p.pending());
        drop(r);
        assert!(!p.pending(), "closed: out of the set, its data with it");
        // Likely the same number again (the lowest free one): another file.
        let (mut w2, r2) = pair();
        w2.write_all(b"x").unwrap();
        assert!(
            !p.pending(),
            "fd {} (was {number}) not added",
            r2.as_raw_fd()
        );
        drop(w);
    }

    #[test]
    fn looking_ends_at_once_on_a_pending_event_and_after_the_budget_without() {
        let p = Poller::new().unwrap();
        let (mut w, mut r) = pair();
        p.add(r.as_fd()).unwrap();
        let budget = Duration::from_millis(2);
        let start = Instant::now();
        assert!(!p.look(budget, || false), "nothing came");
        assert!(start.elapsed() >= budget, "looked for the whole budget");
        w.write_all(b"x").unwrap();
        // A budget far beyond any test run's pace: only the pending event
        // can end the looking this early.
        let start = Instant::now();
        assert!(p.look(Duration::from_secs(60), || false));
        assert!(start.elapsed() < Duration::from_secs(30));
        drain(&mut r);
        // Or on work found elsewhere.
        let mut asked = 0;
        let start = Instant::now();
        assert!(p.look(Duration::from_secs(60), || {
            asked += 1;
            asked == 3
        }));
        assert!(start.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn clones_are_equal_and_separate_sets_are_not() {
        let p = Poller::new().unwrap();
        assert_eq!(p, p.clone());
        assert_ne!(p, Poller::new().unwrap());
    }
}
