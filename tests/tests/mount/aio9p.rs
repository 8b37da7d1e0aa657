//! Mounts of aio9p's in-memory example servers (Python, PyPI `aio9p`,
//! installed by `scripts/test.sh`) over a Unix socket: its 9P2000 server
//! and its 9P2000.u server, each found by the automatic dialect fallback.
//!
//! Exercised: list, create, write, read, append, mkdir, chmod, remove,
//! rmdir and errors. Not exercised, because the example server does not do
//! them (see `ninep_tests::aio9p`): truncation (it ignores OTRUNC and a
//! length wstat changes only the stat) and rename (a name wstat changes the
//! stat but not the directory entry). Interrupted reads need a file whose
//! read blocks, which the examples have not: `classic.rs` tests them on
//! the scripted server in both dialects.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use crate::mount_support::{blocking, config, quick_flush, Mounted};
use ninep_client::{Address, Client, Dialect};
use ninep_fuse::CacheMode;
use ninep_tests::aio9p::{Aio9p, Example};

fn errno(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

/// The operations the example servers support, through the mount at `dir`.
fn exercise(dir: &std::path::Path) {
    assert_eq!(fs::read_dir(dir).unwrap().count(), 0, "starts empty");
    fs::write(dir.join("a"), b"first\n").unwrap();
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(dir.join("a"))
        .unwrap();
    f.write_all(b"second\n").unwrap();
    drop(f);
    assert_eq!(fs::read(dir.join("a")).unwrap(), b"first\nsecond\n");
    assert_eq!(fs::metadata(dir.join("a")).unwrap().len(), 13);

    fs::create_dir(dir.join("d")).unwrap();
    assert!(fs::metadata(dir.join("d")).unwrap().is_dir());
    fs::write(dir.join("d/b"), b"in d").unwrap();
    assert_eq!(fs::read(dir.join("d/b")).unwrap(), b"in d");
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["a", "d"]);

    fs::set_permissions(dir.join("a"), fs::Permissions::from_mode(0o640)).unwrap();
    let mode = fs::metadata(dir.join("a")).unwrap().permissions().mode();
    assert_eq!(mode, 0o100640);

    assert_eq!(errno(fs::read(dir.join("nope")).unwrap_err()), libc::ENOENT);
    assert_eq!(
        errno(fs::remove_file(dir.join("d")).unwrap_err()),
        libc::EISDIR
    );
    fs::remove_file(dir.join("d/b")).unwrap();
    fs::remove_dir(dir.join("d")).unwrap();
    fs::remove_file(dir.join("a")).unwrap();
    assert_eq!(fs::read_dir(dir).unwrap().count(), 0, "all gone");
}

async fn mounts(example: Example, dialect: Dialect) {
    let server = blocking(move || Aio9p::start(example))
        .await
        .expect("start aio9p");
    let addr: Address = server.address().parse().unwrap();
    let client = Client::connect(&addr, &quick_flush()).await.unwrap();
    assert_eq!(client.dialect(), dialect);
    drop(client);
    let m = Mounted::mount_at(server.address(), config("", CacheMode::None), quick_flush()).await;
    let dir = m.dir.clone();
    let outcome = blocking(move || std::panic::catch_unwind(|| exercise(&dir))).await;
    if let Err(p) = outcome {
        eprintln!("aio9p log:\n{}", server.log());
        std::panic::resume_unwind(p);
    }
    m.unmount_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aio9p_9p2000_example_mounts() {
    mounts(Example::Plain, Dialect::Classic).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn aio9p_9p2000_u_example_mounts() {
    mounts(Example::Unix, Dialect::U).await;
}
