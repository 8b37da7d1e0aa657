//! FUSE interrupts onto Tflush, through a real mount: a process blocked in
//! a read of a file whose 9P read never comes back gets EINTR when it
//! takes a signal (SIGUSR1 with a handler installed without SA_RESTART),
//! or dies of SIGINT, within the flush policy's bound, whatever the server
//! does with the Tflush; the mount keeps working, and nothing leaks.
//!
//! Victims: the scripted server's `/block/N` (which answers Tflush as told)
//! and diod serving a blockfs, whose reads block inside diod (diod holds
//! the Rflush until the read ends).

use std::fs::File;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::mount_support::{blocking, interrupted_read, quick_flush, within, Mounted, SETTLE};
use ninep_client::Config;
use ninep_fuse::CacheMode;
use ninep_tests::scripted::{FlushBehaviour, HELLO};

/// `timeout -s INT 1 cat path`: how long it took and its exit code.
fn cat_with_sigint(path: &Path) -> (Duration, Option<i32>) {
    let t = Instant::now();
    let status = Command::new("timeout")
        .args(["-s", "INT", "1", "cat"])
        .arg(path)
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    (t.elapsed(), status.code())
}

/// Wait until `done` holds, up to [`SETTLE`].
async fn eventually(mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + SETTLE;
    while !done() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_signal_interrupts_a_blocked_read_on_the_scripted_server() {
    let m = Mounted::scripted(FlushBehaviour::Correct, CacheMode::None, Config::default()).await;
    let server = m.scripted_server();
    let dir = m.dir.clone();
    let (first, again) = blocking(move || {
        let f = File::open(dir.join("block/0")).unwrap();
        let wait = || server.wait_blocked_sync(1, Duration::from_secs(5));
        let first = interrupted_read(&f, wait);
        // The same open file again: each read is flushed on its own.
        let again = interrupted_read(&f, wait);
        (first, again)
    })
    .await;
    for o in [&first, &again] {
        assert_eq!((o.ret, o.errno), (-1, libc::EINTR), "{o:?}");
        assert!(o.after_signal < Duration::from_secs(1), "{o:?}");
    }
    let dir = m.dir.clone();
    let hello = blocking(move || std::fs::read(dir.join("hello")).unwrap()).await;
    assert_eq!(hello, HELLO, "the mount still works");
    let s = m.stats();
    assert!(s.flushes_sent >= 2, "{s:?}");
    assert!(s.interrupts.delivered >= 2, "{s:?}");
    assert!(
        eventually(|| m.stats().quarantined_tags == 0).await,
        "{:?}",
        m.stats()
    );
    m.unmount_clean().await;
}

/// QEMU 9pfs's bug (`first-only`: only the first of several Tflush is
/// answered): interrupts still end blocked reads with EINTR in time, and
/// the mount stays usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn interrupts_work_on_a_server_that_answers_only_the_first_flush() {
    let m = Mounted::scripted(FlushBehaviour::FirstOnly, CacheMode::None, quick_flush()).await;
    let server = m.scripted_server();
    let dir = m.dir.clone();
    let outcomes = blocking(move || {
        (0..4)
            .map(|n| {
                let f = File::open(dir.join(format!("block/{n}"))).unwrap();
                let before = server.blocked_reads();
                interrupted_read(&f, || {
                    server.wait_blocked_sync(before + 1, Duration::from_secs(5))
                })
            })
            .collect::<Vec<_>>()
    })
    .await;
    for o in &outcomes {
        assert_eq!((o.ret, o.errno), (-1, libc::EINTR), "{o:?}");
        assert!(o.after_signal < Duration::from_secs(1), "{o:?}");
    }
    let dir = m.dir.clone();
    let hello = blocking(move || std::fs::read(dir.join("hello")).unwrap()).await;
    assert_eq!(hello, HELLO, "the mount still works");
    m.unmount().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigint_ends_cat_within_two_seconds() {
    let m = Mounted::scripted(FlushBehaviour::Correct, CacheMode::Loose, Config::default()).await;
    let path = m.dir.join("block/1");
    let (took, code) = blocking(move || cat_with_sigint(&path)).await;
    assert!(took < Duration::from_secs(2), "took {took:?}");
    assert_eq!(code, Some(124), "timeout reports the command it signalled");
    assert!(m.stats().flushes_sent >= 1);
    let dir = m.dir.clone();
    let hello = blocking(move || std::fs::read(dir.join("hello")).unwrap()).await;
    assert_eq!(hello, HELLO);
    m.unmount().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_that_never_answers_tflush_cannot_hold_the_syscall() {
    let m = Mounted::scripted(FlushBehaviour::Never, CacheMode::None, quick_flush()).await;
    let server = m.scripted_server();
    let dir = m.dir.clone();
    let o = blocking(move || {
        let f = File::open(dir.join("block/2")).unwrap();
        interrupted_read(&f, || server.wait_blocked_sync(1, Duration::from_secs(5)))
    })
    .await;
    assert_eq!((o.ret, o.errno), (-1, libc::EINTR), "{o:?}");
    // Two flushes, 250 ms apart, then the policy gives up.
    assert!(o.after_signal < Duration::from_secs(2), "{o:?}");
    let s = m.stats();
    assert_eq!(s.client.flushes_unconfirmed, 1, "{s:?}");
    assert!(
        s.quarantined_tags > 0,
        "the victim's tag stays out of use: {s:?}"
    );
    let dir = m.dir.clone();
    let hello = blocking(move || std::fs::read(dir.join("hello")).unwrap()).await;
    assert_eq!(hello, HELLO, "the mount still works");
    m.scripted_server().release_all();
    m.unmount().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn interrupts_reach_diod_reading_a_blocking_file() {
    let m = Mounted::blockfs(quick_flush()).await;
    let fs = m.blockfs_fs();
    let dir = m.dir.clone();
    let (o, cat) = blocking(move || {
        let f = File::open(dir.join("block0")).unwrap();
        let waiting = || {
            fs.lock()
                .unwrap()
                .wait_for_waiting(1, Duration::from_secs(5))
        };
        let o = interrupted_read(&f, waiting);
        (o, cat_with_sigint(&dir.join("block1")))
    })
    .await;
    assert_eq!((o.ret, o.errno), (-1, libc::EINTR), "{o:?}");
    assert!(o.after_signal < Duration::from_secs(1), "{o:?}");
    assert!(cat.0 < Duration::from_secs(2), "cat took {:?}", cat.0);
    let s = m.stats();
    assert!(s.flushes_sent >= 2, "the Tflushes went out: {s:?}");
    // diod answers the flushes once the reads end.
    m.blockfs_fs().lock().unwrap().release_all();
    assert!(
        eventually(|| m.stats().quarantined_tags == 0).await,
        "{:?}",
        m.stats()
    );
    let dir = m.dir.clone();
    let hello = blocking(move || std::fs::read(dir.join("hello")).unwrap()).await;
    assert_eq!(hello, ninep_tests::blockfs::HELLO, "the mount still works");
    m.unmount_clean().await;
}

/// The `q` quantile (0 to 1) of `sorted`.
fn quantile(sorted: &[Duration], q: f64) -> Duration {
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[i - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_interrupted_reads_leak_nothing() {
    let m = Mounted::scripted(FlushBehaviour::Correct, CacheMode::None, Config::default()).await;
    let server = m.scripted_server();
    let dir = m.dir.clone();
    let t = Instant::now();
    let mut times = within(Duration::from_secs(60), async move {
        blocking(move || {
            let f = File::open(dir.join("block/3")).unwrap();
            let mut times = Vec::with_capacity(1000);
            for i in 0..1000 {
                let o =
                    interrupted_read(&f, || server.wait_blocked_sync(1, Duration::from_secs(5)));
                assert_eq!((o.ret, o.errno), (-1, libc::EINTR), "read {i}: {o:?}");
                times.push(o.after_signal);
            }
            times
        })
        .await
    })
    .await;
    times.sort();
    let (p99, slowest) = (quantile(&times, 0.99), times[times.len() - 1]);
    eprintln!(
        "1000 interrupted reads in {:?}, median {:?}, 99th percentile {p99:?}, slowest \
         {slowest:?}: {:?}",
        t.elapsed(),
        quantile(&times, 0.5),
        m.stats().interrupts
    );
    // Each read ends at its Rflush, not at the flush timeout (which would
    // send another Tflush): all but the few a loaded machine stalls.
    let policy = Config::default().flush;
    assert!(p99 < policy.timeout, "99th percentile {p99:?}");
    // And none outlasts the flush policy: every Tflush it may send, then
    // giving up (with time to spare for a stalled machine).
    let most = policy.timeout * policy.max_flushes + Duration::from_secs(2);
    assert!(slowest < most, "slowest {slowest:?}");
    assert_eq!(m.stats().client.flushes_unconfirmed, 0, "a read gave up");
    assert!(
        eventually(|| m.stats().quarantined_tags == 0).await,
        "{:?}",
        m.stats()
    );
    let s = m.settle_to(1, 1).await;
    assert_eq!(
        (s.fids_in_use, s.inodes, s.open_handles),
        (1, 1, 0),
        "{s:?}"
    );
    assert_eq!(s.requests_in_service, 0);
    assert!(s.flushes_sent >= 1000, "{s:?}");
    let dir = m.dir.clone();
    let hello = blocking(move || std::fs::read(dir.join("hello")).unwrap()).await;
    assert_eq!(hello, HELLO);
    m.unmount().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_server_fails_pending_and_new_syscalls_with_eio() {
    let mut m = Mounted::blockfs(quick_flush()).await;
    let (fs, dir) = (m.blockfs_fs(), m.dir.clone());
    let pending = tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let r = std::fs::read(dir.join("block4"));
        (r.map_err(|e| e.raw_os_error()), t.elapsed())
    });
    let waiting = blocking(move || {
        let fs = fs.lock().unwrap();
        fs.wait_for_waiting(1, Duration::from_secs(5))
    })
    .await;
    assert!(waiting, "the read never reached blockfs");
    let killed = Instant::now();
    m.server().kill();
    let (r, _) = within(Duration::from_secs(2), pending).await.unwrap();
    assert_eq!(r.unwrap_err(), Some(libc::EIO));
    let dir = m.dir.clone();
    let (ls, stat) = blocking(move || {
        let ls = Command::new("ls").arg(&dir).output().unwrap();
        let stat = std::fs::metadata(dir.join("hello")).map_err(|e| e.raw_os_error());
        (ls, stat)
    })
    .await;
    assert!(
        killed.elapsed() < Duration::from_secs(2),
        "{:?}",
        killed.elapsed()
    );
    assert!(!ls.status.success(), "ls of a dead mount");
    assert!(String::from_utf8_lossy(&ls.stderr).contains("Input/output error"));
    assert_eq!(stat.unwrap_err(), Some(libc::EIO));
    m.unmount().await;
}
