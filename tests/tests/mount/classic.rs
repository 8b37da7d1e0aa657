//! Mounts of 9P2000 and 9P2000.u servers: the scripted server in each
//! classic dialect, mounted for real and used through system calls. The
//! client translates the mount's 9P2000.L vocabulary into Tstat, Twstat,
//! Topen, Tcreate, Tremove and directory reads (`client/src/file/compat`).
//!
//! Each test runs once per dialect: list, read, write, create, mkdir,
//! rename (within a directory; EXDEV across), chmod, truncate, remove,
//! errors from Rerror strings, an interrupted blocked read (EINTR, the
//! mount keeps working), and that nothing leaks (fids, inodes, handles).

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::mount_support::{blocking, config, install_usr1, quick_flush, Mounted};
use ninep_client::{Address, Client, Config, Dialect};
use ninep_fuse::CacheMode;
use ninep_tests::scripted::{self, FlushBehaviour, ScriptedServer, HELLO};

/// The scripted server speaking `dialect`, with `flush`.
fn server(dialect: Dialect, flush: FlushBehaviour) -> ScriptedServer {
    let mut cfg = scripted::Config::new(flush);
    cfg.dialect = dialect;
    ScriptedServer::start_with(cfg).expect("scripted server")
}

/// Mount `server` with the client configuration `client`.
async fn mount(server: &ScriptedServer, client: Config) -> Mounted {
    let cfg = config("/", CacheMode::None);
    Mounted::mount_at(server.addr().to_string(), cfg, client).await
}

/// Only `dialect`, as `-o version=` asks.
fn only(dialect: Dialect) -> Config {
    Config {
        dialects: vec![dialect],
        ..quick_flush()
    }
}

/// The errno of an I/O error.
fn errno(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

/// Every file operation of the issue, through the mount at `dir`.
fn exercise(dir: &std::path::Path, dialect: Dialect) {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["block", "hello", "release"]);
    assert_eq!(fs::read(dir.join("hello")).unwrap(), HELLO);
    assert!(fs::metadata(dir.join("block")).unwrap().is_dir());

    // Write in place, then create, append and read back.
    fs::write(dir.join("hello"), b"HELLO").unwrap();
    assert_eq!(fs::read(dir.join("hello")).unwrap(), b"HELLO");
    fs::write(dir.join("new"), b"made here\n").unwrap();
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(dir.join("new"))
        .unwrap();
    f.write_all(b"and more\n").unwrap();
    drop(f);
    assert_eq!(fs::read(dir.join("new")).unwrap(), b"made here\nand more\n");
    assert_eq!(fs::metadata(dir.join("new")).unwrap().len(), 19);

    // Directories, rename within one, EXDEV across.
    fs::create_dir(dir.join("sub")).unwrap();
    fs::write(dir.join("sub/a"), b"a").unwrap();
    fs::rename(dir.join("sub/a"), dir.join("sub/b")).unwrap();
    assert_eq!(fs::read(dir.join("sub/b")).unwrap(), b"a");
    assert_eq!(
        errno(fs::metadata(dir.join("sub/a")).unwrap_err()),
        libc::ENOENT
    );
    let across = fs::rename(dir.join("sub/b"), dir.join("b")).unwrap_err();
    assert_eq!(errno(across), libc::EXDEV);
    // mv(1) copies and removes then, as across file systems.
    let mv = std::process::Command::new("mv")
        .arg(dir.join("sub/b"))
        .arg(dir.join("moved"))
        .status()
        .unwrap();
    assert!(mv.success());
    assert_eq!(fs::read(dir.join("moved")).unwrap(), b"a");
    fs::rename(dir.join("moved"), dir.join("sub/b")).unwrap_err();
    fs::write(dir.join("sub/b"), b"a").unwrap();
    fs::remove_file(dir.join("moved")).unwrap();
    // rename(2) replaces an existing target.
    fs::rename(dir.join("new"), dir.join("hello")).unwrap();
    assert_eq!(
        fs::read(dir.join("hello")).unwrap(),
        b"made here\nand more\n"
    );

    // chmod and truncate are Twstats.
    fs::set_permissions(dir.join("hello"), fs::Permissions::from_mode(0o600)).unwrap();
    let mode = fs::metadata(dir.join("hello"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode, 0o100600);
    File::options()
        .write(true)
        .open(dir.join("hello"))
        .unwrap()
        .set_len(4)
        .unwrap();
    assert_eq!(fs::read(dir.join("hello")).unwrap(), b"made");

    // Errors come back as Rerror strings (and errnos in .u).
    assert_eq!(
        errno(fs::create_dir(dir.join("sub")).unwrap_err()),
        libc::EEXIST
    );
    assert_eq!(
        errno(fs::remove_dir(dir.join("sub")).unwrap_err()),
        libc::ENOTEMPTY
    );
    assert_eq!(
        errno(fs::remove_file(dir.join("nope")).unwrap_err()),
        libc::ENOENT
    );
    assert_eq!(
        errno(fs::remove_file(dir.join("sub")).unwrap_err()),
        libc::EISDIR
    );
    // Symbolic links exist in 9P2000.u only.
    let link = std::os::unix::fs::symlink("hello", dir.join("link"));
    if dialect == Dialect::U {
        link.unwrap();
        assert_eq!(
            fs::read_link(dir.join("link")).unwrap().to_str(),
            Some("hello")
        );
        assert_eq!(fs::read(dir.join("link")).unwrap(), b"made");
        fs::remove_file(dir.join("link")).unwrap();
    } else {
        assert_eq!(link.unwrap_err().kind(), ErrorKind::PermissionDenied);
    }

    // Remove.
    fs::remove_file(dir.join("sub/b")).unwrap();
    fs::remove_dir(dir.join("sub")).unwrap();
    assert!(!dir.join("sub").exists());
}

async fn files_work(dialect: Dialect, client: Config) {
    let server = server(dialect, FlushBehaviour::Correct);
    let m = mount(&server, client).await;
    let dir = m.dir.clone();
    blocking(move || exercise(&dir, dialect)).await;
    m.unmount_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_work_on_9p2000() {
    files_work(Dialect::Classic, only(Dialect::Classic)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_work_on_9p2000_u() {
    files_work(Dialect::U, only(Dialect::U)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dialect_is_found_without_being_asked() {
    for dialect in [Dialect::Classic, Dialect::U] {
        let server = server(dialect, FlushBehaviour::Correct);
        let addr: Address = server.addr().to_string().parse().unwrap();
        let client = Client::connect(&addr, &Config::default()).await.unwrap();
        assert_eq!(client.dialect(), dialect);
        drop(client);
        let m = mount(&server, Config::default()).await;
        let dir = m.dir.clone();
        let hello = blocking(move || fs::read(dir.join("hello")).unwrap()).await;
        assert_eq!(hello, HELLO);
        m.unmount_clean().await;
    }
}

/// Read `file` on a thread of its own; once the server holds the read,
/// send that thread SIGUSR1. The read's errno and how long it took after
/// the signal. Call from a blocking thread.
fn interrupted_read(file: &File, server: &ScriptedServer) -> (isize, i32, Duration) {
    install_usr1();
    let fd = file.as_raw_fd();
    let (tid_tx, tid_rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        // SAFETY: pthread_self has no preconditions.
        tid_tx.send(unsafe { libc::pthread_self() }).unwrap();
        let mut buf = [0u8; 64];
        // SAFETY: `buf` is valid for its length; the caller keeps `fd`
        // open until this thread is joined.
        let ret = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        (ret, errno, Instant::now())
    });
    let tid = tid_rx.recv().unwrap();
    assert!(
        server.wait_blocked_sync(1, Duration::from_secs(5)),
        "the read never reached the server"
    );
    let sent = Instant::now();
    // SAFETY: the thread is alive: it has not been joined.
    assert_eq!(unsafe { libc::pthread_kill(tid, libc::SIGUSR1) }, 0);
    let (ret, errno, done) = reader.join().unwrap();
    (ret, errno, done.saturating_duration_since(sent))
}

async fn a_blocked_read_is_interrupted(dialect: Dialect, flush: FlushBehaviour) {
    let server = std::sync::Arc::new(server(dialect, flush));
    let m = mount(&server, only(dialect)).await;
    let (dir, srv) = (m.dir.clone(), server.clone());
    let (ret, errno, after) = blocking(move || {
        let f = File::open(dir.join("block/0")).unwrap();
        let outcome = interrupted_read(&f, &srv);
        // A server that holds the victim (hold) answers once released.
        srv.release_all();
        outcome
    })
    .await;
    assert_eq!((ret, errno), (-1, libc::EINTR), "{flush}");
    assert!(after < Duration::from_secs(2), "{flush}: {after:?}");
    let dir = m.dir.clone();
    let hello = blocking(move || fs::read(dir.join("hello")).unwrap()).await;
    assert_eq!(hello, HELLO, "the mount still works");
    assert!(m.stats().flushes_sent >= 1, "{:?}", m.stats());
    m.unmount_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_blocked_read_is_interrupted_on_9p2000() {
    for flush in [
        FlushBehaviour::Correct,
        FlushBehaviour::Hold,
        FlushBehaviour::Rlerror,
    ] {
        a_blocked_read_is_interrupted(Dialect::Classic, flush).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_blocked_read_is_interrupted_on_9p2000_u() {
    for flush in [
        FlushBehaviour::Correct,
        FlushBehaviour::Hold,
        FlushBehaviour::Rlerror,
    ] {
        a_blocked_read_is_interrupted(Dialect::U, flush).await;
    }
}

/// With `cache=loose` a file of length 0 (a synthetic file: `/block/N`)
/// is still read from the server (direct I/O): its content appears.
async fn synthetic_files_are_read_in_loose_mode(dialect: Dialect) {
    let server = std::sync::Arc::new(server(dialect, FlushBehaviour::Correct));
    let cfg = config("/", CacheMode::Loose);
    let m = Mounted::mount_at(server.addr().to_string(), cfg, only(dialect)).await;
    let (dir, srv) = (m.dir.clone(), server.clone());
    let got = blocking(move || {
        assert_eq!(fs::metadata(dir.join("block/1")).unwrap().len(), 0);
        // One read(2): every read of /block/N waits for a release.
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 64];
            let n = File::open(dir.join("block/1"))
                .unwrap()
                .read(&mut buf)
                .unwrap();
            buf[..n].to_vec()
        });
        assert!(srv.wait_blocked_sync(1, Duration::from_secs(5)));
        srv.release(1);
        reader.join().unwrap()
    })
    .await;
    assert_eq!(got, b"block 1\n");
    m.unmount_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn synthetic_files_are_read_in_loose_mode_on_both() {
    synthetic_files_are_read_in_loose_mode(Dialect::Classic).await;
    synthetic_files_are_read_in_loose_mode(Dialect::U).await;
}
