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
//! for a short while never falls asleep in the middle of it (see
//! docs/performance.md for the figures).
//!
//! How: before its worker parks, the runtime polls a [`Poller`], an epoll
//! set of our own, without blocking, until an event is pending or the
//! budget is spent. The set holds the descriptors the mount's events come
//! from: the client adds each socket it dials (`Config::poller`), the FUSE
//! mount its `/dev/fuse` device (`MountConfig::poller`); [`build`] hands
//! the set out for that. tokio's own epoll is private and not looked at.
//!
//! The price: wakeups from other threads (a timer firing, a
//! `spawn_blocking` job done, a signal) reach tokio's private eventfd,
//! which the set does not watch, so the worker sees them up to `busy_poll`
//! late, while it looks. Few are on a request's path, and none on a
//! common one: the timers (keepalive, watchdog, flush deadlines) are far
//! coarser than 50 µs; the blocking jobs mount and unmount, look up a new
//! user's name, and store prefetched pages, which a writer of the same
//! file may wait for.
//!
//! One worker thread: with two, the worker that parks without the I/O
//! driver sleeps on a condition variable, so its looking gains nothing,
//! and two threads looking on two cores take the CPU the server needs
//! (measured: a 5,000-file storm took about as long as without polling).
//! The idle cost is nil: a worker looks only when it runs out of work, so
//! a mount with nothing to do sleeps as before.

use std::io;
use std::time::Duration;

use ninep_client::Poller;
use tokio::runtime::{Builder, Runtime};

/// Build the runtime: tokio's default one, and no set to fill, when
/// `busy_poll` is zero; otherwise one worker that looks for up to
/// `busy_poll` at the returned set before it sleeps.
pub(super) fn build(busy_poll: Duration) -> io::Result<(Runtime, Option<Poller>)> {
    if busy_poll.is_zero() {
        return Ok((Runtime::new()?, None));
    }
    let poller = Poller::new()?;
    let looked_at = poller.clone();
    let rt = Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .on_thread_park(move || {
            looked_at.look(busy_poll);
        })
        .build()?;
    tracing::debug!("busy_poll on: one worker looks for up to {busy_poll:?} before it sleeps");
    Ok((rt, Some(poller)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn the_polling_runtime_serves_on_one_worker() {
        let (rt, poller) = build(Duration::from_micros(50)).expect("runtime");
        let poller = poller.expect("a set to fill");
        assert_eq!(rt.metrics().num_workers(), 1);
        // A watched socket left readable: each look ends at once.
        let (mut w, r) = UnixStream::pair().unwrap();
        poller.add(r.as_fd()).unwrap();
        // The worker parks (and looks) between these; a spawned task, a
        // timer and a blocking job still complete.
        let got = rt.block_on(async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let blocking = tokio::task::spawn_blocking(|| 3).await.unwrap();
            w.write_all(b"x").unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
            blocking + tokio::spawn(async { 4 }).await.unwrap()
        });
        assert_eq!(got, 7);
    }

    #[test]
    fn zero_is_tokios_default_runtime_with_nothing_to_poll() {
        let (rt, poller) = build(Duration::ZERO).unwrap();
        assert!(poller.is_none());
        assert!(rt.metrics().num_workers() >= 1);
        assert_eq!(
            rt.block_on(async { tokio::spawn(async { 7 }).await })
                .unwrap(),
            7
        );
    }
}
