//! `-o reconnect` through a real mount: diod is killed and started again
//! on the same port with the same export while a reader streams a file
//! and a writer appends records. The reader must get the file's bytes, in
//! order, without an error; each write must succeed or fail with EIO, and
//! the file must hold every record whose write succeeded, each once, in
//! order (a write whose reply was lost is never sent again). Afterwards
//! nothing leaks on the new connection. With reconnect given up, the mount
//! fails as without reconnect.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::mount_support::{blocking, gettid, install_usr1, wait_served, within, Mounted};
use ninep_fuse::CacheMode;
use ninep_fuse::StatsSource;

/// Size of the file the reader streams.
const SOURCE: usize = 8 << 20;
/// One read(2) of the reader.
const CHUNK: usize = 64 << 10;
/// One record of the writer: "record NNNNNNNN\n".
const RECORD: usize = 16;

/// Deterministic bytes that differ at every offset worth checking.
fn source_bytes() -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..SOURCE)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

fn record(n: u64) -> Vec<u8> {
    let r = format!("record {n:08}\n").into_bytes();
    assert_eq!(r.len(), RECORD);
    r
}

/// Stream `path` in [`CHUNK`]s, a little at a time, counting in `done`.
fn stream(path: PathBuf, done: Arc<AtomicU64>) -> std::io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    let mut out = Vec::with_capacity(SOURCE);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
        done.store(out.len() as u64, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Append records until `stop`: each write's outcome (Ok, or its errno).
fn append(path: PathBuf, stop: Arc<AtomicBool>) -> Vec<(u64, Result<(), Option<i32>>)> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open the log");
    let mut outcomes = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) || n < 50 {
        let r = f.write(&record(n)).map_err(|e| e.raw_os_error());
        if let Ok(len) = r {
            assert_eq!(len, RECORD, "short write of record {n}");
        }
        outcomes.push((n, r.map(|_| ())));
        n += 1;
        std::thread::sleep(Duration::from_millis(3));
    }
    outcomes
}

/// The record numbers in `log`, which must be whole records.
fn records_in(log: &[u8]) -> Vec<u64> {
    assert_eq!(log.len() % RECORD, 0, "a torn record");
    log.chunks(RECORD)
        .map(|r| {
            let s = std::str::from_utf8(r).expect("utf-8 record");
            let n = s
                .strip_prefix("record ")
                .and_then(|s| s.trim_end().parse().ok());
            n.unwrap_or_else(|| panic!("not a record: {s:?}"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_and_a_writer_live_through_a_diod_restart() {
    reader_and_writer_through_a_restart(|c| c.cache = CacheMode::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_and_a_writer_live_through_a_diod_restart_cache_loose() {
    reader_and_writer_through_a_restart(|c| c.cache = CacheMode::Loose).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_and_a_writer_live_through_a_diod_restart_with_read_ahead() {
    reader_and_writer_through_a_restart(|c| {
        c.cache = CacheMode::None;
        c.direct_read_ahead_kb = 2048;
    })
    .await;
}

async fn reader_and_writer_through_a_restart(tweak: impl FnOnce(&mut ninep_fuse::MountConfig)) {
    let mut m = Mounted::diod_reconnecting(Duration::from_secs(30), tweak).await;
    let source = source_bytes();
    std::fs::write(m.local("source"), &source).unwrap();
    let progress = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (path, done) = (m.path("source"), progress.clone());
        tokio::task::spawn_blocking(move || stream(path, done))
    };
    let writer = {
        let (path, stop) = (m.path("log"), stop.clone());
        tokio::task::spawn_blocking(move || append(path, stop))
    };
    // Restart diod once the reader is a quarter through.
    within(Duration::from_secs(30), async {
        while progress.load(Ordering::Relaxed) < (SOURCE / 4) as u64 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let before = progress.load(Ordering::Relaxed);
    tokio::task::block_in_place(|| m.server().restart()).expect("restart diod");
    let read = within(Duration::from_secs(60), reader).await.unwrap();
    stop.store(true, Ordering::Relaxed);
    let outcomes = within(Duration::from_secs(30), writer).await.unwrap();

    let read = read.expect("the reader got an error");
    assert!(
        before < SOURCE as u64,
        "the restart came after the whole read"
    );
    assert_eq!(read.len(), source.len());
    assert!(read == source, "the reader got other bytes than the file's");

    for (n, r) in &outcomes {
        assert!(
            matches!(r, Ok(()) | Err(Some(libc::EIO))),
            "record {n}: {r:?}"
        );
    }
    let log = std::fs::read(m.local("log")).unwrap();
    let found = records_in(&log);
    assert!(
        found.windows(2).all(|w| w[0] < w[1]),
        "duplicated or out of order: {found:?}"
    );
    let ok: Vec<u64> = outcomes
        .iter()
        .filter(|(_, r)| r.is_ok())
        .map(|o| o.0)
        .collect();
    let missing: Vec<_> = ok
        .iter()
        .filter(|n| found.binary_search(n).is_err())
        .collect();
    assert!(missing.is_empty(), "acknowledged records lost: {missing:?}");
    let eio = outcomes.iter().filter(|(_, r)| r.is_err()).count();
    eprintln!(
        "{} writes, {eio} EIO, {} records in the file",
        outcomes.len(),
        found.len()
    );
    let last = outcomes.last().expect("some writes");
    assert!(last.1.is_ok(), "the writer did not recover: {outcomes:?}");

    let s = m.stats();
    assert_eq!(s.reconnects, 1, "{s:?}");
    m.unmount_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn names_open_files_and_new_files_work_after_two_restarts() {
    let mut m = Mounted::diod_reconnecting(Duration::from_secs(30), |_| {}).await;
    std::fs::create_dir(m.local("d")).unwrap();
    std::fs::write(m.local("d/f"), b"before").unwrap();
    let dir = m.dir.clone();
    let (kept, listing) = blocking(move || {
        assert_eq!(std::fs::read(dir.join("d/f")).unwrap(), b"before");
        let listing = std::fs::read_dir(dir.join("d")).unwrap();
        (File::open(dir.join("d/f")).unwrap(), listing)
    })
    .await;
    // Twice: the second reconnect starts from a mount already moved once.
    for _ in 0..2 {
        tokio::task::block_in_place(|| m.server().restart()).expect("restart diod");
        let dir = m.dir.clone();
        let seen = blocking(move || std::fs::metadata(dir.join("d")).is_ok()).await;
        assert!(seen, "stat after a restart");
    }
    let dir = m.dir.clone();
    let (names, stat, content, made, kept_read) = blocking(move || {
        let names: Vec<_> = listing.map(|e| e.map(|e| e.file_name())).collect();
        let stat = std::fs::metadata(dir.join("d/f")).map(|m| m.len());
        let content = std::fs::read(dir.join("d/f")).map_err(|e| e.raw_os_error());
        let made = std::fs::write(dir.join("d/g"), b"after").map_err(|e| e.raw_os_error());
        let mut kept = kept;
        let mut s = String::new();
        let kept_read = kept.read_to_string(&mut s).map(|_| s);
        (names, stat.ok(), content, made, kept_read.ok())
    })
    .await;
    let names: Vec<_> = names.into_iter().map(|n| n.ok()).collect();
    assert_eq!(
        names,
        [Some("f".into())],
        "a directory open across the restarts"
    );
    assert_eq!(stat, Some(6));
    assert_eq!(content.as_deref(), Ok(&b"before"[..]));
    assert_eq!(made, Ok(()));
    assert_eq!(std::fs::read(m.local("d/g")).unwrap(), b"after");
    assert_eq!(
        kept_read.as_deref(),
        Some("before"),
        "a file open across the restarts"
    );
    assert_eq!(m.stats().reconnects, 2);
    m.unmount_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_that_stays_down_ends_the_mount_as_without_reconnect() {
    let mut m = Mounted::diod_reconnecting(Duration::from_millis(600), |_| {}).await;
    m.server().kill();
    let killed = Instant::now();
    let ended = within(Duration::from_secs(10), m.wait()).await;
    let e = ended.expect_err("the mount ended cleanly");
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionAborted, "{e}");
    assert!(
        killed.elapsed() < Duration::from_secs(5),
        "{:?}",
        killed.elapsed()
    );
    let dir = m.dir.clone();
    let stat =
        blocking(move || std::fs::metadata(dir.join("x")).map_err(|e| e.raw_os_error())).await;
    assert_eq!(stat.unwrap_err(), Some(libc::EIO));
    assert_eq!(m.stats().reconnects, 0);
    m.unmount().await;
}

/// pread(2) of `file` on a thread of its own, sent SIGUSR1 (a handler
/// without SA_RESTART) once it is asleep in a FUSE request: its errno, and
/// how long it took from the signal. Call from a blocking thread.
fn interrupted_read(file: &File, mount: &StatsSource) -> (i32, Duration) {
    install_usr1();
    let fd = file.as_raw_fd();
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        // SAFETY: pthread_self has no preconditions.
        tid_tx
            .send((unsafe { libc::pthread_self() }, gettid()))
            .unwrap();
        let mut buf = [0u8; 64];
        // SAFETY: `buf` is valid for its length; the caller holds the
        // File (so `fd`) until the thread is joined.
        let ret = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        (if ret < 0 { errno } else { 0 }, Instant::now())
    });
    let (tid, ktid) = tid_rx.recv().unwrap();
    wait_served(ktid, mount);
    let sent = Instant::now();
    // SAFETY: the thread has not been joined, so it is alive.
    assert_eq!(unsafe { libc::pthread_kill(tid, libc::SIGUSR1) }, 0);
    let (errno, done) = reader.join().unwrap();
    (errno, done.saturating_duration_since(sent))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_waiting_for_the_server_to_come_back_can_be_interrupted() {
    let mut m = Mounted::diod_reconnecting(Duration::from_secs(30), |_| {}).await;
    std::fs::write(m.local("f"), b"data").unwrap();
    let path = m.path("f");
    let file = blocking(move || File::open(path).unwrap()).await;
    m.server().kill();
    // The mount sees the connection lost; a read then waits for a new one:
    // for up to 30 s, unless interrupted.
    let deadline = Instant::now() + Duration::from_secs(10);
    while m.stats().disconnected_since.is_none() {
        assert!(Instant::now() < deadline, "the lost connection went unseen");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let served = m.stats_source();
    let (errno, took) = blocking(move || interrupted_read(&file, &served)).await;
    assert_eq!(
        errno,
        libc::EINTR,
        "the read did not wait, or was not interrupted"
    );
    assert!(took < Duration::from_secs(2), "{took:?}");
    m.unmount().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_that_hangs_up_at_once_is_not_hammered() {
    let mut m = Mounted::diod_reconnecting(Duration::from_secs(3), |_| {}).await;
    let addr = m.server().addr();
    m.server().kill();
    // In diod's place: a listener that accepts and hangs up at once.
    let listener = std::net::TcpListener::bind(addr).expect("bind diod's port");
    listener.set_nonblocking(true).unwrap();
    let counted = blocking(move || {
        let (mut n, end) = (0, Instant::now() + Duration::from_secs(2));
        while Instant::now() < end {
            match listener.accept() {
                Ok((conn, _)) => {
                    n += 1;
                    drop(conn);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(2)),
            }
        }
        n
    })
    .await;
    // Backoff from 50 ms doubling: 5 attempts in 2 s, each dialling once
    // per dialect (a hang-up refuses it) — without it, thousands.
    assert!((1..=20).contains(&counted), "{counted} connections in 2 s");
    assert_eq!(m.stats().reconnects, 0);
    m.unmount().await;
}

/// A file open across the loss that the server no longer has at its path
/// (renamed meanwhile, another file now at its name) stays open, but its
/// uses fail with EIO: the mount walks to open files again by name and
/// never opens another file in its place. The rest of the mount goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_renamed_while_the_server_was_down_fails_with_eio() {
    let mut m = Mounted::diod_reconnecting(Duration::from_secs(30), |_| {}).await;
    std::fs::write(m.local("moved"), b"content").unwrap();
    std::fs::write(m.local("stays"), b"kept").unwrap();
    let dir = m.dir.clone();
    let (moved, stays) = blocking(move || {
        let moved = File::open(dir.join("moved")).unwrap();
        let stays = File::open(dir.join("stays")).unwrap();
        (moved, stays)
    })
    .await;
    m.server().kill();
    std::fs::rename(m.local("moved"), m.local("elsewhere")).unwrap();
    // Another file now has its name: the open file must not become it.
    std::fs::write(m.local("moved"), b"an impostor").unwrap();
    tokio::task::block_in_place(|| m.server().restart()).expect("restart diod");
    let dir = m.dir.clone();
    let (moved_read, stays_read, listed) = blocking(move || {
        let mut moved = moved;
        let mut s = Vec::new();
        let moved_read = moved.read_to_end(&mut s).map_err(|e| e.raw_os_error());
        let mut stays = stays;
        let mut t = String::new();
        let stays_read = stays.read_to_string(&mut t).map(|_| t);
        let listed = std::fs::read(dir.join("elsewhere")).map_err(|e| e.raw_os_error());
        (moved_read, stays_read.ok(), listed)
    })
    .await;
    assert_eq!(moved_read, Err(Some(libc::EIO)), "the renamed file's read");
    assert_eq!(stays_read.as_deref(), Some("kept"), "a file still there");
    assert_eq!(listed.as_deref(), Ok(&b"content"[..]), "its new name");
    assert_eq!(m.stats().reconnects, 1);
    m.unmount_clean().await;
}
