//! The directory listing cache of `cache=loose`, on a real FUSE mount of
//! diod: a directory listed again within the TTL costs no Treaddir, our
//! own changes show at once, the server's once the TTL has passed, and
//! `cache=none` always asks the server. Treaddir rounds are counted by the
//! mount (`MountStats::listings_read`).

mod mount_support;

use std::fs;
use std::path::Path;
use std::time::Duration;

use mount_support::{blocking, Mounted};
use ninep_fuse::CacheMode;

/// The names in directory `dir`, sorted.
fn list(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

async fn list_async(dir: &Path) -> Vec<String> {
    let dir = dir.to_path_buf();
    blocking(move || list(&dir)).await
}

/// A loose mount whose TTL is `ttl`.
async fn loose(ttl: Duration) -> Mounted {
    Mounted::diod_with(|c| {
        c.cache = CacheMode::Loose;
        c.ttl = ttl;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listing_twice_within_the_ttl_sends_no_second_treaddir() {
    let m = loose(Duration::from_secs(30)).await;
    fs::create_dir(m.local("d")).unwrap();
    fs::write(m.local("d/a"), b"a").unwrap();
    fs::write(m.local("d/b"), b"b").unwrap();
    let dir = m.path("d");
    assert_eq!(list_async(&dir).await, ["a", "b"]);
    let before = m.stats();
    assert_eq!(list_async(&dir).await, ["a", "b"]);
    let after = m.stats();
    assert_eq!(
        after.listings_read, before.listings_read,
        "second listing went to the server: {after:?}"
    );
    assert!(after.listings_cached > before.listings_cached, "{after:?}");
    m.unmount().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn our_own_changes_show_in_the_next_listing_at_once() {
    let m = loose(Duration::from_secs(30)).await;
    fs::create_dir(m.local("d")).unwrap();
    let dir = m.path("d");
    assert!(list_async(&dir).await.is_empty());
    let d = dir.clone();
    blocking(move || {
        fs::write(d.join("made"), b"x").unwrap();
        fs::create_dir(d.join("sub")).unwrap();
        std::os::unix::fs::symlink("made", d.join("link")).unwrap();
    })
    .await;
    assert_eq!(list_async(&dir).await, ["link", "made", "sub"]);
    let d = dir.clone();
    let root = m.dir.clone();
    blocking(move || {
        fs::rename(d.join("made"), root.join("moved")).unwrap();
        fs::remove_dir(d.join("sub")).unwrap();
    })
    .await;
    assert_eq!(list_async(&dir).await, ["link"]);
    assert!(list_async(&m.dir).await.contains(&"moved".to_string()));
    let d = dir.clone();
    blocking(move || fs::remove_file(d.join("link")).unwrap()).await;
    assert!(list_async(&dir).await.is_empty());
    m.unmount().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_side_changes_show_once_the_ttl_has_passed() {
    // Long enough that two listings in a row fall within it on any
    // machine: the second one is always the cached one.
    let ttl = Duration::from_secs(1);
    let m = loose(ttl).await;
    fs::create_dir(m.local("d")).unwrap();
    let dir = m.path("d");
    assert!(list_async(&dir).await.is_empty());
    let first = m.stats();
    fs::write(m.local("d/theirs"), b"x").unwrap();
    let early = list_async(&dir).await;
    let s = m.stats();
    assert!(
        early.is_empty(),
        "within the TTL, the listing read before: {early:?}"
    );
    assert_eq!(s.listings_read, first.listings_read, "{s:?}");
    assert!(s.listings_cached > first.listings_cached, "{s:?}");
    tokio::time::sleep(ttl + Duration::from_millis(100)).await;
    let before = m.stats();
    assert_eq!(list_async(&dir).await, ["theirs"]);
    assert!(m.stats().listings_read > before.listings_read);
    m.unmount().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cache_none_always_reads_the_listing_from_the_server() {
    let m = Mounted::diod(CacheMode::None).await;
    fs::create_dir(m.local("d")).unwrap();
    fs::write(m.local("d/a"), b"a").unwrap();
    let dir = m.path("d");
    let start = m.stats();
    assert_eq!(list_async(&dir).await, ["a"]);
    fs::write(m.local("d/b"), b"b").unwrap();
    assert_eq!(list_async(&dir).await, ["a", "b"]);
    let s = m.stats();
    assert_eq!(s.listings_read - start.listings_read, 2, "{s:?}");
    assert_eq!(s.listings_cached, 0, "{s:?}");
    m.unmount().await;
}

/// The readahead of the mount at `dir` in KiB, as sysfs has it.
fn read_ahead_kb(dir: &Path) -> u32 {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = dir.to_str().unwrap();
    let dev = info
        .lines()
        .rev()
        .find_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.get(4) == Some(&dir)).then(|| f[2].to_string())
        })
        .expect("the mount in mountinfo");
    let kb = fs::read_to_string(format!("/sys/class/bdi/{dev}/read_ahead_kb")).unwrap();
    kb.trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn loose_mounts_raise_the_kernels_readahead_unless_told_not_to() {
    for (ra, want) in [(4096, 4096), (1024, 1024), (0, 128)] {
        let m = Mounted::diod_with(|c| {
            c.cache = CacheMode::Loose;
            c.read_ahead_kb = ra;
        })
        .await;
        // Set at the first open (after the kernel has taken FUSE init).
        fs::write(m.local("f"), b"x").unwrap();
        let f = m.path("f");
        assert_eq!(blocking(move || fs::read(f).unwrap()).await, b"x");
        assert_eq!(read_ahead_kb(&m.dir), want, "read_ahead_kb={ra}");
        m.unmount_clean().await;
    }
    let m = Mounted::diod(CacheMode::None).await;
    assert_eq!(read_ahead_kb(&m.dir), 128, "cache=none: left alone");
    m.unmount_clean().await;
}
