//! The read-ahead of `cache=none` (`direct_read_ahead_kb`): a sequential
//! reader's next read is asked for before the reader makes it, its bytes
//! are the file's, a write through the mount is never hidden by what was
//! read ahead, and a read waiting for a read-ahead can be interrupted.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use ninep_client::wire::msg_type;
use ninep_fuse::CacheMode;
use ninep_tests::tamper::{Act, Request};

use crate::mount_support::relayed::Relayed;
use crate::mount_support::{blocking, gettid, install_usr1, wait_served, Mounted};

const MIB: usize = 1 << 20;

/// Bytes that differ from one 4 KiB page to the next.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i / 4096) * 7 + i % 13) as u8).collect()
}

/// A Tread's offset: size[4] type[1] tag[2] fid[4] offset[8] count[4].
fn tread_offset(req: &Request) -> u64 {
    let mut o = [0u8; 8];
    o.copy_from_slice(&req.frame[11..19]);
    u64::from_le_bytes(o)
}

/// An Rread's data length: size[4] type[1] tag[2] count[4] data.
fn rread_count(reply: &[u8]) -> u64 {
    u64::from(u32::from_le_bytes([
        reply[7], reply[8], reply[9], reply[10],
    ]))
}

/// Bytes of Rread data the relay passed for Treads at `from` or later.
type Passed = Arc<Mutex<u64>>;

/// Mount `files` through the relay with `cache=none` and 2 MiB of
/// read-ahead; the relay counts the Rread bytes at 1 MiB and beyond.
async fn relayed(files: &[(&str, &[u8])]) -> (Relayed, Passed) {
    let r = Relayed::start_tweaked(files, |m, _| m.direct_read_ahead_kb = 2048).await;
    let passed: Passed = Arc::default();
    let p = passed.clone();
    r.tamper.set(move |req: &Request, reply: &[u8]| {
        if req.ty == msg_type::TREAD && tread_offset(req) >= MIB as u64 {
            *p.lock().unwrap() += rread_count(reply);
        }
        Act::Pass
    });
    (r, passed)
}

/// Wait (at most 10 s) until at least `bytes` passed.
fn wait_passed(passed: &Passed, bytes: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while *passed.lock().unwrap() < bytes {
        assert!(
            Instant::now() < deadline,
            "only {} bytes past 1 MiB were read ahead",
            *passed.lock().unwrap()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sequential_reader_finds_its_next_read_asked_for_and_right() {
    let data = pattern(4 * MIB);
    let (r, passed) = relayed(&[("f", &data)]).await;
    let path = r.path("f");
    let want = data.clone();
    blocking(move || {
        let mut f = File::open(&path).unwrap();
        let mut buf = vec![0u8; MIB];
        f.read_exact(&mut buf).unwrap();
        assert!(buf == want[..MIB]);
        // Nothing past the first MiB was read(2) yet: what comes is ahead.
        wait_passed(&passed, MIB as u64);
        let mut rest = Vec::new();
        f.read_to_end(&mut rest).unwrap();
        assert!(rest == want[MIB..], "the bytes read ahead are the file's");
        // A jump back reads what is there, not what was ahead.
        f.seek(SeekFrom::Start(4096)).unwrap();
        let mut page = vec![0u8; 4096];
        f.read_exact(&mut page).unwrap();
        assert!(page == want[4096..8192]);
    })
    .await;
    r.m.unmount_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_the_mount_is_not_hidden_by_what_was_read_ahead() {
    let data = vec![b'A'; 2 * MIB];
    let (r, passed) = relayed(&[("f", &data)]).await;
    let path = r.path("f");
    blocking(move || {
        let mut reader = File::open(&path).unwrap();
        let mut buf = vec![0u8; MIB];
        reader.read_exact(&mut buf).unwrap();
        // The second MiB, as it was, is in the mount's hands.
        wait_passed(&passed, MIB as u64);
        let mut w = OpenOptions::new().write(true).open(&path).unwrap();
        w.seek(SeekFrom::Start(MIB as u64)).unwrap();
        w.write_all(&vec![b'B'; MIB]).unwrap();
        drop(w);
        reader.read_exact(&mut buf).unwrap();
        assert!(
            buf.iter().all(|&b| b == b'B'),
            "the read after the write got {} bytes of the old contents",
            buf.iter().filter(|&&b| b == b'A').count()
        );
    })
    .await;
    r.m.unmount_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_waiting_for_a_read_ahead_ends_at_a_signal() {
    let data = pattern(2 * MIB);
    let (r, _) = relayed(&[("f", &data)]).await;
    // Every Rread past the first MiB is held until `open` is set.
    let (open, held) = tokio::sync::watch::channel(false);
    r.tamper.set(move |req: &Request, _: &[u8]| {
        if req.ty == msg_type::TREAD && tread_offset(req) >= MIB as u64 {
            return Act::Until(held.clone());
        }
        Act::Pass
    });
    let path = r.path("f");
    let served = r.m.stats_source();
    let (errno, after) = blocking(move || {
        install_usr1();
        let f = File::open(&path).unwrap();
        let mut buf = vec![0u8; MIB];
        (&f).read_exact(&mut buf).unwrap();
        let fd = f.as_raw_fd();
        let (tx, rx) = mpsc::channel();
        let (done_tx, done_rx) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            // SAFETY: pthread_self has no preconditions.
            tx.send((unsafe { libc::pthread_self() }, gettid()))
                .unwrap();
            let mut next = vec![0u8; MIB];
            // SAFETY: `next` is valid for its length; `f` is open until
            // the thread is joined.
            let ret = unsafe { libc::pread(fd, next.as_mut_ptr().cast(), MIB, MIB as i64) };
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            let _ = done_tx.send((ret, errno, Instant::now()));
        });
        let (tid, ktid) = rx.recv().unwrap();
        wait_served(ktid, &served);
        let sent = Instant::now();
        // SAFETY: the thread is alive: it has not been joined.
        assert_eq!(unsafe { libc::pthread_kill(tid, libc::SIGUSR1) }, 0);
        let outcome = done_rx.recv_timeout(Duration::from_secs(5));
        // Whatever came of it, let the held replies go so nothing hangs.
        open.send_replace(true);
        reader.join().unwrap();
        let (ret, errno, done) = outcome.expect("the read went on waiting after the signal");
        assert_eq!(ret, -1, "the read came back with data while held");
        drop(f);
        (errno, done.saturating_duration_since(sent))
    })
    .await;
    assert_eq!(errno, libc::EINTR);
    assert!(after < Duration::from_secs(2), "{after:?} after the signal");
    r.tamper.clear();
    r.m.unmount_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_files_read_at_once_hold_at_most_the_mounts_cap_and_give_it_back() {
    // 24 files read at once, each with up to 8 MiB ahead: 192 MiB if every
    // handle kept its budget.
    let m = Mounted::diod_with(|c| {
        c.cache = CacheMode::None;
        c.direct_read_ahead_kb = 8192;
    })
    .await;
    let dir = m.dir.clone();
    let data = pattern(MIB + 1);
    let files: Vec<File> = blocking(move || {
        (0..24)
            .map(|i| {
                let p = dir.join(format!("f{i}"));
                std::fs::write(&p, &data).unwrap();
                let mut f = File::open(&p).unwrap();
                let mut buf = vec![0u8; MIB];
                f.read_exact(&mut buf).unwrap();
                assert!(buf == data[..MIB]);
                f
            })
            .collect()
    })
    .await;
    let held = m.stats().read_ahead_bytes;
    assert!(held > 0, "nothing read ahead");
    assert!(held <= 64 << 20, "{held} bytes read ahead at once");
    drop(files);
    let deadline = Instant::now() + Duration::from_secs(10);
    while m.stats().read_ahead_bytes > 0 {
        assert!(
            Instant::now() < deadline,
            "read-ahead kept after every close"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    m.unmount_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_header_read_again_and_again_starts_no_read_ahead_each_time() {
    let data = pattern(2 * MIB);
    let r = Relayed::start_tweaked(&[("f", &data)], |m, _| m.direct_read_ahead_kb = 1024).await;
    let treads: Passed = Arc::default();
    let t = treads.clone();
    r.tamper.set(move |req: &Request, _: &[u8]| {
        if req.ty == msg_type::TREAD && tread_offset(req) >= 4096 {
            *t.lock().unwrap() += 1;
        }
        Act::Pass
    });
    let path = r.path("f");
    let want = data.clone();
    blocking(move || {
        let f = File::open(&path).unwrap();
        let mut page = vec![0u8; 4096];
        for _ in 0..10 {
            std::os::unix::fs::FileExt::read_exact_at(&f, &mut page, 0).unwrap();
            assert!(page == want[..4096]);
            // Whatever this read started is answered before the next.
            std::thread::sleep(Duration::from_millis(30));
        }
    })
    .await;
    // The first read (a stream may start at 0) reads the rest of the
    // first MiB ahead: 16 Treads on diod.
    let n = *treads.lock().unwrap();
    assert!(n <= 20, "{n} Treads past the header for 10 reads of it");
    r.tamper.clear();
    r.m.unmount_clean().await;
}
