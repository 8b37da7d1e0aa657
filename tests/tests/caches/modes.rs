//! What the cache modes keep, on real FUSE mounts of diod.
//!
//! - The directory listing cache of `cache=loose`: a directory listed
//!   again within the TTL costs no Treaddir, our own changes show at once,
//!   the server's once the TTL has passed, and `cache=none` always asks
//!   the server. Treaddir rounds are counted by the mount
//!   (`MountStats::listings_read`).
//! - Close-to-open consistency (`cache=cto`): with another writer (a second
//!   mount of the same export, or writes straight into the export), an
//!   open after the writer's close reads the new bytes, also when the file
//!   was renamed over or removed; `stat` sees a change within the attribute
//!   time; an unchanged file's pages are kept across opens.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::mount_support::{blocking, Mounted};
use crate::one_at_a_time;
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
    let _serial = one_at_a_time().await;
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
    let _serial = one_at_a_time().await;
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
    let _serial = one_at_a_time().await;
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
    let _serial = one_at_a_time().await;
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
    let _serial = one_at_a_time().await;
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

/// A `cache=cto` mount of diod whose files' attributes are trusted for
/// `reg` at most (and at least), directories' likewise for `dir`.
async fn cto(reg: Duration, dir: Duration) -> Mounted {
    Mounted::diod_with(|c| {
        c.cache = CacheMode::Cto;
        c.ac = ninep_fuse::AcTimes {
            reg_min: reg,
            reg_max: reg,
            dir_min: dir,
            dir_max: dir,
        };
    })
    .await
}

fn read(p: &Path) -> std::io::Result<Vec<u8>> {
    fs::read(p)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cto_open_after_a_writers_close_reads_the_new_bytes() {
    let _serial = one_at_a_time().await;
    // Attributes trusted for a long time: only the opens can find changes.
    let long = Duration::from_secs(300);
    let mut m = cto(long, long).await;
    let export = m.export.clone();
    let (addr, exported) = (m.server().addr().to_string(), export.clone());
    // The other writer's mount of the same export.
    let cfg = crate::mount_support::config(exported.to_str().unwrap(), CacheMode::Cto);
    let other = Mounted::mount_at(addr, cfg, ninep_client::Config::default()).await;
    let (mine, theirs) = (m.dir.clone(), other.dir.clone());
    blocking(move || {
        let f = mine.join("f");
        fs::write(export.join("f"), b"first").unwrap();
        assert_eq!(read(&f).unwrap(), b"first");
        assert_eq!(read(&f).unwrap(), b"first", "read again from the cache");
        // Straight into the export: longer, shorter, same size.
        for body in [
            &b"second, longer"[..],
            b"3rd",
            b"4th",
            b"the fifth and last",
        ] {
            fs::write(export.join("f"), body).unwrap();
            assert_eq!(read(&f).unwrap(), body);
        }
        // Through the other mount.
        for body in [&b"from the other mount"[..], b"short", b"SHORT"] {
            fs::write(theirs.join("f"), body).unwrap();
            assert_eq!(read(&f).unwrap(), body);
        }
        // Appended to by the other mount while we hold it open: the next
        // open sees the whole.
        let held = fs::File::open(&f).unwrap();
        {
            use std::io::Write;
            let mut w = fs::OpenOptions::new()
                .append(true)
                .open(theirs.join("f"))
                .unwrap();
            w.write_all(b" + more").unwrap();
        }
        assert_eq!(read(&f).unwrap(), b"SHORT + more");
        drop(held);
    })
    .await;
    other.unmount().await;
    m.unmount().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cto_nothing_stale_after_a_rename_or_unlink_by_the_other_side() {
    let _serial = one_at_a_time().await;
    let long = Duration::from_secs(300);
    let m = cto(long, long).await;
    let (mine, export) = (m.dir.clone(), m.export.clone());
    blocking(move || {
        fs::write(export.join("f"), b"old").unwrap();
        assert_eq!(read(&mine.join("f")).unwrap(), b"old");
        // Renamed over (as an editor saves): the name's new file.
        fs::write(export.join("tmp"), b"saved anew").unwrap();
        fs::rename(export.join("tmp"), export.join("f")).unwrap();
        assert_eq!(read(&mine.join("f")).unwrap(), b"saved anew");
        // Moved away: the old name is gone, the new one reads.
        fs::rename(export.join("f"), export.join("g")).unwrap();
        let e = read(&mine.join("f")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}");
        assert_eq!(read(&mine.join("g")).unwrap(), b"saved anew");
        // Removed.
        fs::remove_file(export.join("g")).unwrap();
        let e = read(&mine.join("g")).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOENT), "{e}");
    })
    .await;
    m.unmount().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cto_stat_sees_a_change_within_the_attribute_time() {
    let _serial = one_at_a_time().await;
    let attr_time = Duration::from_secs(2);
    let m = cto(attr_time, attr_time).await;
    let (f, local) = (m.path("f"), m.local("f"));
    fs::write(&local, b"1234").unwrap();
    assert_eq!(fs::metadata(&f).unwrap().len(), 4);
    let before = m.requests_of("Tgetattr") + m.requests_of("Twalk");
    assert_eq!(fs::metadata(&f).unwrap().len(), 4);
    assert_eq!(
        m.requests_of("Tgetattr") + m.requests_of("Twalk"),
        before,
        "a stat within the attribute time asked the server"
    );
    fs::write(&local, b"123456789").unwrap();
    let changed = std::time::Instant::now();
    let seen = loop {
        let p = f.clone();
        if blocking(move || fs::metadata(&p).unwrap().len()).await == 9 {
            break changed.elapsed();
        }
        assert!(
            changed.elapsed() < attr_time + Duration::from_millis(1500),
            "stat still shows the old size after {:?}",
            changed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    eprintln!("stat saw the change after {seen:?} (attribute time {attr_time:?})");
    m.unmount().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unchanged_files_keep_their_pages_across_opens() {
    let _serial = one_at_a_time().await;
    for cache in [CacheMode::Cto, CacheMode::Loose] {
        let m = Mounted::diod(cache).await;
        let body: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(m.local("big"), &body).unwrap();
        let f = m.path("big");
        let g = f.clone();
        assert_eq!(blocking(move || read(&g).unwrap()).await, body);
        let reads = m.requests_of("Tread");
        let g = f.clone();
        assert_eq!(blocking(move || read(&g).unwrap()).await, body);
        assert_eq!(
            m.requests_of("Tread"),
            reads,
            "{cache:?}: the second read of an unchanged file went to the server"
        );
        // Changed on the server (same size): every open asks for the
        // attributes, so the pages go.
        let mut changed = body.clone();
        changed[100_000] ^= 0xff;
        fs::write(m.local("big"), &changed).unwrap();
        let g = f.clone();
        assert_eq!(
            blocking(move || read(&g).unwrap()).await,
            changed,
            "{cache:?}"
        );
        assert!(
            m.requests_of("Tread") > reads,
            "{cache:?}: the changed file was not read again"
        );
        m.unmount().await;
    }
}

/// A cto mount whose names are trusted for a second (a directory's
/// attributes for a tenth of its age, at least a second), and its
/// directory `d`, made behind it with one file `a`, listed through it.
async fn cto_with_a_listed_directory() -> (Mounted, std::path::PathBuf) {
    let m = Mounted::diod_with(|c| {
        c.cache = CacheMode::Cto;
        c.ac.dir_min = Duration::from_secs(1);
    })
    .await;
    fs::create_dir(m.local("d")).unwrap();
    fs::write(m.local("d/a"), b"a").unwrap();
    let dir = m.path("d");
    assert_eq!(list_async(&dir).await, ["a"]);
    (m, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cto_lists_an_unchanged_directory_again_for_a_tgetattr_at_most() {
    let _serial = one_at_a_time().await;
    let (m, dir) = cto_with_a_listed_directory().await;
    // Past the names' time (acdirmin): the listing is kept by the
    // directory's mtime.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let (reads, opens) = (m.stats().listings_read, m.requests_of("Tlopen"));
    let getattrs = m.requests_of("Tgetattr");
    assert_eq!(list_async(&dir).await, ["a"]);
    assert_eq!(m.stats().listings_read, reads, "read from the server again");
    assert_eq!(
        m.requests_of("Tlopen"),
        opens,
        "the directory was opened on the server"
    );
    assert!(m.requests_of("Tgetattr") - getattrs <= 2);
    // Changed behind the mount: its mtime moves, and the new name shows
    // once the directory's attributes are asked for again.
    fs::write(m.local("d/b"), b"b").unwrap();
    let changed = std::time::Instant::now();
    while list_async(&dir).await != ["a", "b"] {
        assert!(
            changed.elapsed() < Duration::from_millis(2500),
            "the new name did not show"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    m.unmount().await;
}

/// `fstatat` of `name` in the directory open as `dir`: whether it exists.
fn exists_at(dir: &fs::File, name: &std::ffi::CStr) -> bool {
    use std::os::fd::AsRawFd;
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: a NUL-terminated name and a buffer of the right size.
    unsafe { libc::fstatat(dir.as_raw_fd(), name.as_ptr(), st.as_mut_ptr(), 0) == 0 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cto_keeps_a_listed_directorys_names_while_its_mtime_stands() {
    let _serial = one_at_a_time().await;
    let (m, dir) = cto_with_a_listed_directory().await;
    // Looked up relative to the directory held open: only the names in it
    // are in question.
    let held = std::sync::Arc::new(fs::File::open(&dir).unwrap());
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let walks = m.requests_of("Twalk");
    let h = held.clone();
    assert!(!blocking(move || exists_at(&h, c"zz")).await);
    assert_eq!(
        m.requests_of("Twalk"),
        walks,
        "a missing name was walked though the directory is unchanged"
    );
    // Made behind the mount: the directory's mtime moves, and the name
    // shows once its attributes are asked for again.
    fs::write(m.local("d/zz"), b"z").unwrap();
    let changed = std::time::Instant::now();
    loop {
        let h = held.clone();
        if blocking(move || exists_at(&h, c"zz")).await {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_millis(3500),
            "the new name did not show"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(held);
    m.unmount().await;
}
