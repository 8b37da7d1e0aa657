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
//! set of our own, without blocking, until an event is pending, a task
//! woken by another thread waits, or the budget is spent. The set holds
//! the descriptors the mount's events come from: the client adds each
//! socket it dials (`Config::poller`), the FUSE mount its `/dev/fuse`
//! device (`MountConfig::poller`); [`build`] hands the set out for that.
//! tokio's own epoll is private and not looked at; its wakeups from other
//! threads are, as the one thing the runtime offers about them: a task
//! spawned or woken outside the worker (by a `spawn_blocking` job, a
//! thread of our own) waits in the global queue, whose depth the runtime's
//! metrics tell.
//!
//! The price: what neither sees is seen up to `busy_poll` late, while the
//! worker looks: a timer due (keepalive, watchdog, flush deadlines: all
//! far coarser than 50 µs) and a signal.
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
use tokio::runtime::{Builder, Handle, Runtime};

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
            let metrics = Handle::try_current().map(|h| h.metrics());
            let woken = || metrics.as_ref().is_ok_and(|m| m.global_queue_depth() > 0);
            looked_at.look(busy_poll, woken);
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
    fn a_task_spawned_from_another_thread_ends_the_looking() {
        // A budget far beyond the bound below: only the spawned task, in
        // the global queue, can end the worker's first look this early.
        let budget = Duration::from_secs(2);
        let (rt, _poller) = build(budget).expect("runtime");
        std::thread::sleep(Duration::from_millis(100)); // the worker looks
        let start = std::time::Instant::now();
        let task = rt.spawn(async { 7 });
        assert_eq!(rt.block_on(task).unwrap(), 7);
        let took = start.elapsed();
        // Not waited for: the worker looks again, for the whole budget.
        rt.shutdown_background();
        assert!(took < budget / 2, "served after {took:?}");
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
