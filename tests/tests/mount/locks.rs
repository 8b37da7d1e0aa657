//! POSIX locks through the mount onto Tlock/Tgetlock (diod keeps them per
//! open file, so two opens of one file conflict even in one process), a
//! blocking lock that waits for the holder, and one a signal interrupts.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::mount_support::{blocking, gettid, install_usr1, wait_served, Mounted};
use ninep_fuse::CacheMode;

/// fcntl(`cmd`) with a whole-file lock of type `ty`; 0 or the errno.
fn fcntl_lock(f: &File, cmd: libc::c_int, ty: libc::c_int) -> (i32, libc::flock) {
    // SAFETY: flock is plain data; zeroed is a valid value.
    let mut l: libc::flock = unsafe { std::mem::zeroed() };
    l.l_type = ty as libc::c_short;
    l.l_whence = libc::SEEK_SET as libc::c_short;
    // SAFETY: a valid fd and a pointer to a live flock.
    let r = unsafe { libc::fcntl(f.as_raw_fd(), cmd, &mut l) };
    let errno = if r == 0 {
        0
    } else {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
    };
    (errno, l)
}

fn open_rw(p: &std::path::Path) -> File {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(p)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn posix_locks_reach_the_server() {
    let m = Mounted::diod(CacheMode::None).await;
    let path = m.dir.join("lockme");
    let served = m.stats_source();
    blocking(move || {
        install_usr1();
        let a = open_rw(&path);
        let b = open_rw(&path);
        assert_eq!(fcntl_lock(&a, libc::F_SETLK, libc::F_WRLCK).0, 0);
        let (e, l) = fcntl_lock(&b, libc::F_GETLK, libc::F_WRLCK);
        assert_eq!(e, 0);
        assert_eq!(
            l.l_type,
            libc::F_WRLCK as libc::c_short,
            "the conflict shows"
        );
        let e = fcntl_lock(&b, libc::F_SETLK, libc::F_WRLCK).0;
        assert!(e == libc::EAGAIN || e == libc::EACCES, "errno {e}");

        // F_SETLKW waits; a signal ends the wait with EINTR.
        let (tid_tx, tid_rx) = mpsc::channel();
        let b2 = b.try_clone().unwrap();
        let waiter = std::thread::spawn(move || {
            // SAFETY: pthread_self has no preconditions.
            tid_tx
                .send((unsafe { libc::pthread_self() }, gettid()))
                .unwrap();
            let r = fcntl_lock(&b2, libc::F_SETLKW, libc::F_WRLCK).0;
            (r, Instant::now())
        });
        let (tid, ktid) = tid_rx.recv().unwrap();
        wait_served(ktid, &served);
        assert!(
            !waiter.is_finished(),
            "F_SETLKW did not wait for the holder"
        );
        let sent = Instant::now();
        // SAFETY: the thread is alive until joined.
        unsafe { libc::pthread_kill(tid, libc::SIGUSR1) };
        let (r, done) = waiter.join().unwrap();
        assert_eq!(r, libc::EINTR);
        assert!(done - sent < Duration::from_secs(1), "{:?}", done - sent);

        // F_SETLKW waits until the holder lets go.
        let b3 = b.try_clone().unwrap();
        let (tid_tx, tid_rx) = mpsc::channel();
        let waiter = std::thread::spawn(move || {
            tid_tx.send(gettid()).unwrap();
            let r = fcntl_lock(&b3, libc::F_SETLKW, libc::F_WRLCK).0;
            (r, Instant::now())
        });
        wait_served(tid_rx.recv().unwrap(), &served);
        // Still waiting when the holder lets go, and done only after.
        assert!(
            !waiter.is_finished(),
            "F_SETLKW did not wait for the holder"
        );
        let unlocked = Instant::now();
        assert_eq!(fcntl_lock(&a, libc::F_SETLK, libc::F_UNLCK).0, 0);
        let (r, done) = waiter.join().unwrap();
        assert_eq!(r, 0);
        assert!(done >= unlocked, "F_SETLKW returned before the unlock");
        assert!(done - unlocked < Duration::from_secs(1));

        // Closing b drops its lock (FUSE flush): a can take it now.
        drop(b);
        assert_eq!(fcntl_lock(&a, libc::F_SETLK, libc::F_WRLCK).0, 0);
    })
    .await;
    m.unmount().await;
}

/// Every close(2) of a descriptor of the file sends FUSE flush with the
/// closing process's lock owner, also a child's that inherited it and
/// closes it at exec (as every command another thread runs does). Only
/// the locks of that owner may go: the parent's stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_child_closing_an_inherited_descriptor_leaves_the_parents_lock() {
    let m = Mounted::diod(CacheMode::None).await;
    let path = m.dir.join("lockme");
    blocking(move || {
        let a = open_rw(&path);
        let b = open_rw(&path);
        assert_eq!(fcntl_lock(&a, libc::F_SETLK, libc::F_WRLCK).0, 0);
        // `a` is close-on-exec: the child closes it when it execs.
        let status = std::process::Command::new("true").status().unwrap();
        assert!(status.success());
        let e = fcntl_lock(&b, libc::F_SETLK, libc::F_WRLCK).0;
        assert!(
            e == libc::EAGAIN || e == libc::EACCES,
            "the parent's lock is gone after the child's close (errno {e})"
        );
        // The owner's own close still lets its locks go.
        drop(a);
        assert_eq!(fcntl_lock(&b, libc::F_SETLK, libc::F_WRLCK).0, 0);
    })
    .await;
    m.unmount().await;
}
