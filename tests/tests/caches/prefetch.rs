//! The random-read prefetch of `cache=loose` (`-o prefetch=`) on
//! a real FUSE mount of diod: a small random read fetches its window in
//! one Tread and the kernel's page cache gets the rest of it, so further
//! reads in the window send nothing; never with data older than a write
//! made through the mount; off, each read costs its own Tread.
//!
//! Reads use `POSIX_FADV_RANDOM`, as fio does: the kernel then asks for
//! exactly the pages read, so every Tread counted is ours. Offsets lie in
//! pages 240 to 254, in one window whether the window is 60 KiB (diod's
//! 64 KiB msize leaves 65512 bytes per Tread) or 64 KiB.
//!
//! The tests run one at a time, as all in this binary do: another test's
//! unmount drops the kernel's caches (`drop_caches`), page caches
//! included.

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::mount_support::{blocking, Mounted};
use crate::SERIAL;
use ninep_fuse::CacheMode;

const PAGE: u64 = 4096;
/// The first read, and others in its window.
const FIRST: u64 = 245 * PAGE;
const WINDOW_START: u64 = 240 * PAGE;
const WINDOW_LAST: u64 = 254 * PAGE;
/// How long a store or the prefetch's start may take on a busy machine.
const PATIENCE: Duration = Duration::from_secs(10);

/// The byte at `offset` of the test file.
fn byte_at(offset: u64) -> u8 {
    (offset / 7 % 251) as u8
}

/// A mount of a fresh diod export with `prefetch` (loose, long TTL) and
/// a 1 MiB file `f` in it, written on the server's side.
async fn mounted(cache: CacheMode, prefetch: u32) -> (Mounted, PathBuf) {
    let m = Mounted::diod_with(|c| {
        c.cache = cache;
        c.ttl = Duration::from_secs(60);
        c.prefetch = prefetch;
    })
    .await;
    let data: Vec<u8> = (0..1 << 20).map(byte_at).collect();
    fs::write(m.local("f"), data).unwrap();
    let f = m.path("f");
    if cache == CacheMode::Loose && prefetch > 0 {
        // The first read that wants a store finds the line to the
        // kernel's page cache (an open drops the page cache after).
        page(&open(&f, false), 200 * PAGE).await;
        let deadline = Instant::now() + PATIENCE;
        while !m.stats().prefetch_ready {
            assert!(Instant::now() < deadline, "the prefetch never got ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    (m, f)
}

/// `path` opened (read-only or read-write) for random reads.
fn open(path: &PathBuf, write: bool) -> File {
    let f = OpenOptions::new()
        .read(true)
        .write(write)
        .open(path)
        .unwrap();
    // SAFETY: a valid descriptor; the call only sets advice on it.
    let r = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_RANDOM) };
    assert_eq!(r, 0);
    f
}

/// One page read at `offset` through `f`.
async fn page(f: &File, offset: u64) -> Vec<u8> {
    let f = f.try_clone().unwrap();
    blocking(move || {
        let mut buf = vec![0; PAGE as usize];
        f.read_exact_at(&mut buf, offset).unwrap();
        buf
    })
    .await
}

fn expected(offset: u64) -> Vec<u8> {
    (offset..offset + PAGE).map(byte_at).collect()
}

/// Treads sent so far.
fn treads(m: &Mounted) -> u64 {
    m.traffic().requests("Tread")
}

/// Wait until the kernel has taken `n` stores in all.
async fn stores(m: &Mounted, n: u64) {
    let deadline = Instant::now() + PATIENCE;
    while m.stats().prefetch_stores < n {
        assert!(Instant::now() < deadline, "{:?}", m.stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_random_read_brings_its_whole_window_in_one_tread() {
    let _one = SERIAL.lock().await;
    let (m, path) = mounted(CacheMode::Loose, 64 * 1024).await;
    let f = open(&path, false);
    let before = treads(&m);
    assert_eq!(page(&f, FIRST).await, expected(FIRST));
    assert_eq!(treads(&m), before + 1, "the window is one Tread");
    stores(&m, 2).await; // before and after the page asked for
    for at in [WINDOW_START, WINDOW_LAST, FIRST + PAGE, FIRST - PAGE] {
        assert_eq!(page(&f, at).await, expected(at), "at page {}", at / PAGE);
    }
    assert_eq!(treads(&m), before + 1, "the rest came from the page cache");
    // Outside the window: a Tread of its own.
    assert_eq!(page(&f, 220 * PAGE).await, expected(220 * PAGE));
    assert_eq!(treads(&m), before + 2);
    drop(f);
    m.unmount_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_prefetch_while_a_writer_is_open_and_writes_are_read_back() {
    let _one = SERIAL.lock().await;
    let (m, path) = mounted(CacheMode::Loose, 64 * 1024).await;
    let r = open(&path, false);
    let w = open(&path, true);
    // With a writer open, a store could carry data older than its writes.
    let before = treads(&m);
    assert_eq!(page(&r, FIRST).await, expected(FIRST));
    assert_eq!(page(&r, FIRST + PAGE).await, expected(FIRST + PAGE));
    assert_eq!(treads(&m), before + 2, "no window while a writer is open");
    let new = vec![0xa5; PAGE as usize];
    let at = FIRST + 2 * PAGE;
    let w2 = w.try_clone().unwrap();
    let n2 = new.clone();
    blocking(move || w2.write_all_at(&n2, at).unwrap()).await;
    drop(w);
    assert_eq!(page(&r, at).await, new, "the write read back");
    // The writer closed: prefetch again, over the written page too.
    let stored = m.stats().prefetch_stores;
    assert_eq!(page(&r, WINDOW_START).await, expected(WINDOW_START));
    stores(&m, stored + 1).await;
    let now = treads(&m);
    assert_eq!(page(&r, at).await, new, "the window carried the write");
    assert_eq!(page(&r, WINDOW_LAST).await, expected(WINDOW_LAST));
    assert_eq!(treads(&m), now, "served from the page cache");
    // A write through a new writer after the window was stored.
    let w = open(&path, true);
    let newer = vec![0x5a; PAGE as usize];
    let n2 = newer.clone();
    blocking(move || w.write_all_at(&n2, WINDOW_LAST).unwrap()).await;
    assert_eq!(page(&r, WINDOW_LAST).await, newer);
    drop(r);
    m.unmount_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncation_is_not_undone_by_a_store() {
    let _one = SERIAL.lock().await;
    let (m, path) = mounted(CacheMode::Loose, 64 * 1024).await;
    let r = open(&path, false);
    assert_eq!(page(&r, FIRST).await, expected(FIRST));
    stores(&m, 2).await;
    let p = path.clone();
    blocking(move || {
        OpenOptions::new()
            .write(true)
            .open(p)
            .unwrap()
            .set_len(FIRST)
            .unwrap()
    })
    .await;
    assert_eq!(fs::metadata(&path).unwrap().len(), FIRST);
    let r2 = r.try_clone().unwrap();
    let n = blocking(move || r2.read_at(&mut [0; 4096], FIRST + PAGE).unwrap()).await;
    assert_eq!(n, 0, "past the end after the truncation");
    assert_eq!(page(&r, WINDOW_START).await, expected(WINDOW_START));
    drop(r);
    m.unmount_clean().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn off_or_uncached_each_read_sends_its_tread() {
    let _one = SERIAL.lock().await;
    for (cache, prefetch) in [(CacheMode::Loose, 0), (CacheMode::None, 64 * 1024)] {
        let (m, path) = mounted(cache, prefetch).await;
        let f = open(&path, false);
        let before = treads(&m);
        for at in [FIRST, WINDOW_START, WINDOW_LAST] {
            assert_eq!(page(&f, at).await, expected(at));
        }
        assert_eq!(treads(&m), before + 3, "{cache:?}, prefetch={prefetch}");
        assert_eq!(m.stats().prefetch_stores, 0);
        drop(f);
        m.unmount_clean().await;
    }
}
