//! The mount's tokio runtime, which looks for its next event for a moment
//! before it sleeps (`-o busy_poll=US`).
//!
//! Why: on a machine with idle cores, every FUSE request and every 9P reply
//! has to wake the mount's sleeping thread on another core. On the 2-core
//! virtual machines it was measured on, such a wakeup costs tens of microseconds: a
//! FUSE request answered from memory (a negative lookup in a known
//! directory) took 76-107 µs end to end, against 14-22 µs with the caller
//! and the mount pinned to one core. A file storm sends its next request
//! within microseconds of the last answer, so a thread that keeps looking
//! for a short while never falls asleep in the middle of it: the same
//! lookup took 28-40 µs, and the 5,000-file storm 12% less time.
//!
//! How: before its worker parks, the runtime polls its own epoll instance
//! (without blocking) until an event is pending or the budget is spent.
//! An epoll descriptor is readable exactly when its epoll_wait would return
//! at once, so this sees every source the runtime waits on (`/dev/fuse`,
//! the server's socket, wakeups from other threads) without knowing them.
//! tokio does not expose that descriptor: it is the epoll instance whose
//! descriptors appear while the runtime is built, duplicated so that its
//! number stays ours. If none or two instances appear, the runtime works as without
//! busy polling.
//!
//! One worker thread: with two, the worker that parks without the I/O
//! driver sleeps on a condition variable, so its looking gains nothing,
//! and two threads looking on two cores take the CPU the server needs
//! (measured: a 5,000-file storm took about as long as without polling).
//! The idle cost is nil: a worker looks only when it runs out of work, so
//! a mount with nothing to do sleeps as before.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};

/// Build the runtime: tokio's default one when `busy_poll` is zero,
/// otherwise one worker that looks for events for up to `busy_poll`
/// before it sleeps.
pub(super) fn build(busy_poll: Duration) -> io::Result<Runtime> {
    if busy_poll.is_zero() {
        return Runtime::new();
    }
    build_polling(busy_poll).map(|(rt, _)| rt)
}

/// The busy-polling runtime, and the epoll descriptor it looks at (unset
/// when it could not be found).
fn build_polling(busy_poll: Duration) -> io::Result<(Runtime, Arc<OnceLock<OwnedFd>>)> {
    let epoll: Arc<OnceLock<OwnedFd>> = Arc::default();
    let seen = epoll.clone();
    let before = eventpoll_fds();
    let rt = Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .on_thread_park(move || {
            if let Some(fd) = seen.get() {
                look(fd.as_fd(), busy_poll);
            }
        })
        .build()?;
    let new: Vec<RawFd> = eventpoll_fds()
        .into_iter()
        .filter(|fd| !before.contains(fd))
        .collect();
    match one_instance(&new) {
        Some(fd) => match duplicate(fd) {
            Ok(own) => {
                tracing::debug!(
                    "busy_poll on: one worker looks for up to {busy_poll:?} before it sleeps"
                );
                let _ = epoll.set(own);
            }
            Err(e) => tracing::debug!("busy_poll off: cannot duplicate the runtime's epoll: {e}"),
        },
        None => tracing::debug!("busy_poll off: the runtime's epoll not found among {new:?}"),
    }
    Ok((rt, epoll))
}

/// Poll `epoll` without blocking until it has an event or `budget` is
/// spent. An error (which the worker's own epoll_wait will meet and
/// report) ends the looking too.
fn look(epoll: BorrowedFd, budget: Duration) {
    let start = Instant::now();
    while !pending(epoll) {
        if start.elapsed() >= budget {
            return;
        }
        std::hint::spin_loop();
    }
}

/// True when an epoll_wait on `epoll` would return at once (an event is
/// pending, or the descriptor is in error).
fn pending(epoll: BorrowedFd) -> bool {
    let mut p = libc::pollfd {
        fd: epoll.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, timeout 0: poll only reads the descriptor
    // (borrowed, so open) and writes `revents`.
    unsafe { libc::poll(&mut p, 1, 0) != 0 }
}

/// The descriptors of this process that are epoll instances.
fn eventpoll_fds() -> Vec<RawFd> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    dir.flatten()
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|l| l.as_os_str() == "anon_inode:[eventpoll]")
        })
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// One of `fds` if they are all descriptors of one epoll instance (mio
/// duplicates tokio's for the signal driver), none if there are none or
/// they are not (another runtime was built meanwhile). Descriptors of one
/// open file share its /proc fdinfo (position, flags, and for an epoll
/// each descriptor it watches); two instances never watch the same
/// eventfd, and each runtime's watches its own.
fn one_instance(fds: &[RawFd]) -> Option<RawFd> {
    let info = |fd: RawFd| std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok();
    let (&first, rest) = fds.split_first()?;
    let want = info(first)?;
    rest.iter()
        .all(|&fd| info(fd).as_ref() == Some(&want))
        .then_some(first)
}

/// A close-on-exec duplicate of `fd`.
fn duplicate(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC only reads `fd`; a closed one fails.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `new` was just returned by fcntl and is owned by no one.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Held by every test that makes epoll instances: the runtime's test
    /// must see only its own appear.
    static EPOLLS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn serial() -> std::sync::MutexGuard<'static, ()> {
        EPOLLS.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An epoll instance watching a fresh eventfd.
    fn epoll_with_eventfd() -> (OwnedFd, OwnedFd) {
        // SAFETY: plain syscalls; each result is checked before it is owned.
        unsafe {
            let ep = libc::epoll_create1(libc::EPOLL_CLOEXEC);
            assert!(ep >= 0, "epoll_create1: {}", io::Error::last_os_error());
            let ev = libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK);
            assert!(ev >= 0, "eventfd: {}", io::Error::last_os_error());
            let mut e = libc::epoll_event {
                events: (libc::EPOLLIN | libc::EPOLLET) as u32,
                u64: 1,
            };
            assert_eq!(libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, ev, &mut e), 0);
            (OwnedFd::from_raw_fd(ep), OwnedFd::from_raw_fd(ev))
        }
    }

    fn signal(ev: &OwnedFd) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live buffer to an eventfd we own.
        let n = unsafe { libc::write(ev.as_raw_fd(), one.as_ptr().cast(), 8) };
        assert_eq!(n, 8);
    }

    fn harvest(ep: &OwnedFd) -> i32 {
        let mut out = [libc::epoll_event { events: 0, u64: 0 }; 4];
        // SAFETY: room for 4 events in `out`; timeout 0.
        unsafe { libc::epoll_wait(ep.as_raw_fd(), out.as_mut_ptr(), 4, 0) }
    }

    #[test]
    fn an_epoll_is_pending_exactly_while_an_event_waits_to_be_harvested() {
        let _serial = serial();
        let (ep, ev) = epoll_with_eventfd();
        assert!(!pending(ep.as_fd()), "nothing happened yet");
        signal(&ev);
        assert!(pending(ep.as_fd()), "the eventfd became readable");
        assert_eq!(harvest(&ep), 1);
        // Edge-triggered, as tokio registers: once harvested, not pending
        // until the next event, though the eventfd is still readable.
        assert!(!pending(ep.as_fd()), "the event was harvested");
        signal(&ev);
        assert!(pending(ep.as_fd()), "a new event");
    }

    #[test]
    fn looking_ends_at_once_on_a_pending_event_and_after_the_budget_without() {
        let _serial = serial();
        let (ep, ev) = epoll_with_eventfd();
        look(ep.as_fd(), Duration::from_micros(200));
        signal(&ev);
        // A budget far beyond any test run's pace: only the pending event
        // can end the looking this early.
        let start = Instant::now();
        look(ep.as_fd(), Duration::from_secs(60));
        assert!(start.elapsed() < Duration::from_secs(30));
    }

    #[test]
    fn descriptors_of_one_epoll_are_one_instance_and_of_two_are_not() {
        let _serial = serial();
        let (ep, _ev) = epoll_with_eventfd();
        let dup = duplicate(ep.as_raw_fd()).unwrap();
        let (other, _ev2) = epoll_with_eventfd();
        let (a, b, c) = (ep.as_raw_fd(), dup.as_raw_fd(), other.as_raw_fd());
        assert_eq!(one_instance(&[a, b]), Some(a));
        assert_eq!(one_instance(&[b]), Some(b));
        assert_eq!(one_instance(&[a, b, c]), None);
        assert_eq!(one_instance(&[]), None);
    }

    #[test]
    fn the_runtime_finds_its_own_epoll_and_serves_on_one_worker() {
        let _serial = serial();
        // No other test of this crate builds a runtime and the others here
        // wait (`serial`), so the runtime's epoll is the only one to appear.
        let (rt, epoll) = build_polling(Duration::from_micros(50)).expect("runtime");
        let fd = epoll.get().expect("the runtime's epoll was found");
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        assert_eq!(link.as_os_str(), "anon_inode:[eventpoll]");
        assert_eq!(rt.metrics().num_workers(), 1);
        // The worker parks (and looks) between these; a spawned task and a
        // timer still complete.
        let got = rt.block_on(async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            tokio::spawn(async { 7 }).await.unwrap()
        });
        assert_eq!(got, 7);
        assert!(build(Duration::ZERO).unwrap().metrics().num_workers() >= 1);
    }
}
