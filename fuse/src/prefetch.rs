//! Prefetch for random reads in `cache=loose` (`-o prefetch=BYTES`).
//!
//! A program that reads at random (fio sets `POSIX_FADV_RANDOM`) makes the
//! kernel ask for one page per miss: a FUSE round trip and a Tread for
//! 4 KiB each. A Tread of a whole window costs about the same, so on a
//! small read that does not continue the handle's last one, the mount
//! reads the aligned window around it (at most one Tread: the window is
//! cut to the fid's I/O size), answers the kernel from it and pushes the
//! rest of the window into the page cache (FUSE_NOTIFY_STORE, through
//! the session's notifier). Sequential readers get big reads from the kernel's own
//! readahead and are left alone.
//!
//! A store overwrites what the page cache holds, so it must never carry
//! data older than a write made through this mount ([`StoreGate`]): a store
//! goes ahead only if no handle that can write the inode is open and no
//! write, truncation or writable open started since its Tread was sent
//! (a generation per inode, bumped by each). A writable or truncating
//! open and a truncation wait for the stores in flight to end before they
//! are sent: a store cannot be stopped once the kernel has it, and the
//! kernel locks a written page before it tells us about the write, so
//! the write must not be able to start while a store is on its way.
//! Stores never reach past the size the mount knows for the file.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::ino::Ino;
use tokio::sync::Notify;

/// The kernel's page size, which FUSE reads and stores come in.
pub(crate) const PAGE: u64 = 4096;

/// What the prefetch of one inode depends on.
#[derive(Debug, Default)]
struct Io {
    /// Bumped by every write, truncation and writable open.
    gen: u64,
    /// Open handles (and truncations in progress) that can change the data.
    writers: u32,
    /// Prefetches between their Tread and the end of their store.
    flights: u32,
    /// Stores past the generation check and not yet done.
    storing: u32,
}

/// The per-inode state of the module doc: which stores may go ahead.
#[derive(Debug, Default)]
pub(crate) struct StoreGate {
    inodes: Mutex<HashMap<Ino, Io>>,
    idle: Notify,
    /// Ranges the kernel took (for the mount's counters).
    stored: AtomicU64,
}

impl StoreGate {
    fn lock(&self) -> MutexGuard<'_, HashMap<Ino, Io>> {
        self.inodes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forget `ino` once nothing depends on it.
    fn tidy(map: &mut HashMap<Ino, Io>, ino: Ino) {
        if map.get(&ino).is_some_and(|io| io.writers + io.flights == 0) {
            map.remove(&ino);
        }
    }

    /// Ranges the kernel took into its page cache so far.
    pub(crate) fn stores(&self) -> u64 {
        self.stored.load(Ordering::Relaxed)
    }

    /// The kernel took one more range.
    pub(crate) fn stored(&self) {
        self.stored.fetch_add(1, Ordering::Relaxed);
    }

    /// A prefetch of `ino` is about to send its Tread (`None`: a writer
    /// has the inode open, no prefetch).
    pub(crate) fn flight(self: &Arc<Self>, ino: Ino) -> Option<Flight> {
        let mut map = self.lock();
        let io = map.entry(ino).or_default();
        if io.writers > 0 {
            StoreGate::tidy(&mut map, ino);
            return None;
        }
        io.flights += 1;
        Some(Flight {
            gate: self.clone(),
            ino,
            gen: io.gen,
            storing: false,
        })
    }

    /// A write to `ino` is on its way to the server.
    pub(crate) fn wrote(&self, ino: Ino) {
        if let Some(io) = self.lock().get_mut(&ino) {
            io.gen += 1;
        }
    }

    /// Something is about to be able to change `ino` (a writable or
    /// truncating open, a truncation): no store of it goes ahead from now
    /// on until the returned guard is dropped, and the ones already past
    /// their check have ended when this returns.
    pub(crate) async fn writer(self: &Arc<Self>, ino: Ino) -> Writer {
        {
            let mut map = self.lock();
            let io = map.entry(ino).or_default();
            io.writers += 1;
            io.gen += 1;
        }
        let w = Writer {
            gate: self.clone(),
            ino,
        };
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.lock().get(&ino).is_none_or(|io| io.storing == 0) {
                return w;
            }
            idle.await;
        }
    }
}

/// Holds off the stores of an inode (see [`StoreGate::writer`]).
#[derive(Debug)]
pub(crate) struct Writer {
    gate: Arc<StoreGate>,
    ino: Ino,
}

impl Drop for Writer {
    fn drop(&mut self) {
        let mut map = self.gate.lock();
        if let Some(io) = map.get_mut(&self.ino) {
            io.writers = io.writers.saturating_sub(1);
        }
        StoreGate::tidy(&mut map, self.ino);
    }
}

/// One prefetch, from before its Tread to the end of its store.
#[derive(Debug)]
pub(crate) struct Flight {
    gate: Arc<StoreGate>,
    ino: Ino,
    gen: u64,
    storing: bool,
}

impl Flight {
    /// Whether the store may go ahead: nothing changed the inode since
    /// the Tread was sent, and no writer has it open. Writers wait for
    /// the store from now until this flight is dropped.
    pub(crate) fn may_store(&mut self) -> bool {
        let mut map = self.gate.lock();
        let Some(io) = map.get_mut(&self.ino) else {
            return false;
        };
        if io.gen != self.gen || io.writers > 0 {
            return false;
        }
        io.storing += 1;
        self.storing = true;
        true
    }

    /// Whether nothing changed the inode since the flight began and no
    /// writer has it open (a read-ahead's check, see `stream.rs`).
    pub(crate) fn unchanged(&self) -> bool {
        self.gate
            .lock()
            .get(&self.ino)
            .is_some_and(|io| io.gen == self.gen && io.writers == 0)
    }

    /// The gate this flight passes.
    pub(crate) fn gate(&self) -> &StoreGate {
        &self.gate
    }
}

impl Drop for Flight {
    fn drop(&mut self) {
        let mut map = self.gate.lock();
        if let Some(io) = map.get_mut(&self.ino) {
            io.flights = io.flights.saturating_sub(1);
            if self.storing {
                io.storing = io.storing.saturating_sub(1);
            }
        }
        StoreGate::tidy(&mut map, self.ino);
        drop(map);
        if self.storing {
            self.gate.idle.notify_waiters();
        }
    }
}

/// The window `(start, len)` to read for a FUSE read of `size` bytes at
/// `offset`, with windows of `window` bytes cut to `io_size` (one Tread):
/// `None` if the read is not small enough to gain, or crosses a window.
pub(crate) fn window(offset: u64, size: u32, window: u32, io_size: u32) -> Option<(u64, u64)> {
    let len = u64::from(window.min(io_size)) / PAGE * PAGE;
    let size = u64::from(size);
    if len < 2 * PAGE || size == 0 || size >= len || !offset.is_multiple_of(PAGE) {
        return None;
    }
    let start = offset / len * len;
    (offset + size <= start + len).then_some((start, len))
}

/// What to do with the `got` bytes read for window `(start, _)` when the
/// kernel asked for `size` at `offset` and the file is `known` bytes long:
/// the range of `got` to answer with, and the ranges to store (page
/// aligned at their start, never past `known`).
pub(crate) fn split(
    start: u64,
    got: u64,
    offset: u64,
    size: u32,
    known: u64,
) -> (std::ops::Range<u64>, Vec<std::ops::Range<u64>>) {
    let r0 = (offset - start).min(got);
    let r1 = (offset - start + u64::from(size)).min(got);
    let end = got.min(known.saturating_sub(start));
    let mut stores = Vec::new();
    let head = r0.min(end);
    if head > 0 {
        stores.push(0..head);
    }
    if r1.is_multiple_of(PAGE) && r1 < end {
        stores.push(r1..end);
    }
    (r0..r1, stores)
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: u64 = 1024;

    #[test]
    fn windows_are_aligned_page_multiples_within_one_tread() {
        // diod: msize 64 KiB, so 65512 bytes per Tread: 15 pages.
        assert_eq!(
            window(100 * PAGE, 4096, 65536, 65512),
            Some((90 * PAGE, 60 * K))
        );
        assert_eq!(window(0, 4096, 65536, 1 << 20), Some((0, 64 * K)));
        assert_eq!(
            window(5 * PAGE, 8192, 16384, 1 << 20),
            Some((4 * PAGE, 16 * K))
        );
    }

    #[test]
    fn big_unaligned_or_crossing_reads_are_left_alone() {
        assert_eq!(
            window(0, 65536, 65536, 1 << 20),
            None,
            "as big as the window"
        );
        assert_eq!(window(0, 131072, 65536, 1 << 20), None, "readahead");
        assert_eq!(window(100, 4096, 65536, 1 << 20), None, "unaligned");
        assert_eq!(window(15 * PAGE, 8192, 65536, 1 << 20), None, "crosses");
        assert_eq!(window(0, 4096, 0, 1 << 20), None, "off");
        assert_eq!(window(0, 4096, 65536, 4096), None, "one page per Tread");
    }

    #[test]
    fn the_answer_is_cut_out_and_the_rest_stored_up_to_the_known_size() {
        let (r, s) = split(0, 64 * K, 8 * K, 4096, 1 << 30);
        assert_eq!(r, 8 * K..12 * K);
        assert_eq!(s, vec![0..8 * K, 12 * K..64 * K]);
        // Short read: end of file in the window.
        let (r, s) = split(64 * K, 10 * K, 64 * K, 4096, 74 * K);
        assert_eq!(r, 0..4 * K);
        assert_eq!(s, vec![4 * K..10 * K]);
        // The mount knows a smaller size than the server gave: cut there.
        let (_, s) = split(0, 64 * K, 0, 4096, 20 * K);
        assert_eq!(s, vec![4 * K..20 * K]);
        // Asked past what came back: nothing to answer, head stored.
        let (r, s) = split(0, 6 * K, 8 * K, 4096, 1 << 30);
        assert_eq!(r, 6 * K..6 * K);
        assert_eq!(s, vec![0..6 * K]);
    }

    #[tokio::test]
    async fn a_write_or_writer_since_the_tread_stops_the_store() {
        let gate = Arc::new(StoreGate::default());
        let mut f = gate.flight(Ino::from_kernel(7)).unwrap();
        gate.wrote(Ino::from_kernel(7));
        assert!(!f.may_store(), "written since the Tread");
        drop(f);
        let w = gate.writer(Ino::from_kernel(7)).await;
        assert!(
            gate.flight(Ino::from_kernel(7)).is_none(),
            "a writer is open"
        );
        let mut f = gate.flight(Ino::from_kernel(8)).unwrap();
        assert!(f.may_store(), "other inodes go on");
        drop((w, f));
        let mut f = gate.flight(Ino::from_kernel(7)).unwrap();
        assert!(f.may_store());
        assert!(gate.lock().contains_key(&Ino::from_kernel(7)));
        drop(f);
        assert!(gate.lock().is_empty(), "nothing kept once idle");
    }

    #[tokio::test]
    async fn a_writer_waits_for_the_stores_past_their_check() {
        let gate = Arc::new(StoreGate::default());
        let mut f = gate.flight(Ino::from_kernel(7)).unwrap();
        assert!(f.may_store());
        let g = gate.clone();
        let w = tokio::spawn(async move { g.writer(Ino::from_kernel(7)).await });
        tokio::task::yield_now().await;
        assert!(!w.is_finished(), "the store is still on its way");
        drop(f);
        let w = w.await.unwrap();
        let mut late = gate.flight(Ino::from_kernel(7));
        assert!(late.is_none());
        drop(w);
        late = gate.flight(Ino::from_kernel(7));
        assert!(late.as_mut().unwrap().may_store());
    }
}
