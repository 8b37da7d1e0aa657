//! How many 9P requests the mount sends per system call, on a real FUSE
//! mount of diod (issue 5). Request counts are deterministic where timings
//! are not, so these tests pin the structural wins of the metadata path:
//! each asserts an upper bound on the requests one syscall costs, in the
//! cache mode it is about. `table_of_requests_per_syscall` prints the whole
//! table (run with `--nocapture`) and checks nothing beyond that the
//! operations work.

mod mount_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mount_support::{blocking, sh, Mounted};
use ninep_fuse::CacheMode;

/// How long the counters may take to come to rest after a syscall (the
/// kernel sends RELEASE after close(2) returns).
const REST: Duration = Duration::from_secs(5);

/// The 9P requests `op` (run on a blocking thread) made the mount send,
/// counted once everything it started has been answered.
async fn count<F: FnOnce() + Send + 'static>(m: &Mounted, op: F) -> u64 {
    rest(m).await;
    let before = m.stats().client.requests;
    blocking(op).await;
    rest(m).await;
    m.stats().client.requests - before
}

/// Wait until no FUSE request is being served, no 9P request is in flight
/// and the request count has stopped moving.
async fn rest(m: &Mounted) {
    let deadline = Instant::now() + REST;
    let mut last = u64::MAX;
    loop {
        let s = m.stats();
        let idle = s.requests_in_service == 0 && s.client.in_flight == 0;
        if (idle && s.client.requests == last) || Instant::now() > deadline {
            return;
        }
        last = s.client.requests;
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
}

/// A mount of a fresh diod export in `cache`, with a long TTL for loose
/// (so that no entry expires during a test), and the directory `d` in it.
async fn mounted(cache: CacheMode) -> (Mounted, PathBuf) {
    let m = Mounted::diod_with(|c| {
        c.cache = cache;
        c.ttl = Duration::from_secs(60);
    })
    .await;
    fs::create_dir(m.local("d")).unwrap();
    let d = m.path("d");
    let probe = d.clone();
    blocking(move || fs::metadata(probe).unwrap()).await;
    (m, d)
}

fn stat(p: &Path) {
    fs::symlink_metadata(p).unwrap();
}

/// Every operation of the 10,000-file storm, on one file, in `cache`.
async fn table(cache: CacheMode) -> Vec<(&'static str, u64)> {
    let (m, d) = mounted(cache).await;
    let mut rows = Vec::new();
    let f = d.join("f");
    let p = f.clone();
    rows.push((
        "create (open O_CREAT, close)",
        count(&m, move || drop(fs::File::create(p).unwrap())).await,
    ));
    let p = d.join("t");
    rows.push((
        "touch (create + utimensat)",
        count(&m, move || drop(sh(&format!("touch {}", p.display())))).await,
    ));
    let p = f.clone();
    rows.push(("stat after create", count(&m, move || stat(&p)).await));
    let p = f.clone();
    rows.push(("stat again", count(&m, move || stat(&p)).await));
    for i in 0..8 {
        fs::write(m.local(&format!("d/g{i}")), b"").unwrap();
    }
    let p = d.clone();
    rows.push((
        "ls -l of 10 files",
        count(&m, move || drop(sh(&format!("ls -l {}", p.display())))).await,
    ));
    let p = d.clone();
    rows.push((
        "find -ls of 10 files",
        count(&m, move || drop(sh(&format!("find {} -ls", p.display())))).await,
    ));
    let p = d.join("nope");
    rows.push((
        "stat of a missing name",
        count(&m, move || assert!(fs::metadata(p).is_err())).await,
    ));
    let p = d.join("nope");
    rows.push((
        "stat of it again",
        count(&m, move || assert!(fs::metadata(p).is_err())).await,
    ));
    let p = f.clone();
    rows.push(("rm", count(&m, move || fs::remove_file(p).unwrap()).await));
    let p = d.clone();
    rows.push((
        "rm -r of 9 files",
        count(&m, move || fs::remove_dir_all(p).unwrap()).await,
    ));
    m.unmount_clean().await;
    rows
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn table_of_requests_per_syscall() {
    for cache in [CacheMode::None, CacheMode::Loose] {
        for (what, n) in table(cache).await {
            println!("{cache:?}\t{n:3}\t{what}");
        }
    }
}
