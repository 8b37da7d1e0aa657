//! How many 9P requests the mount sends per system call, on a real FUSE
//! mount of diod. Request counts are deterministic where timings
//! are not, so these tests pin the structural wins of the metadata path:
//! each asserts an upper bound on the requests one syscall costs, in the
//! cache mode it is about. `table_of_requests_per_syscall` prints the whole
//! table (run with `--nocapture`) and pins every row of it ([`PINNED`]).
//!
//! The tests run one at a time ([`one_at_a_time`]), as all in this
//! binary do: another test's unmount drops the kernel's caches
//! (`drop_caches`), which makes the kernel forget and look up again on
//! every mount, this one's too.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::mount_support::{blocking, sh, Mounted};
use crate::one_at_a_time;
use ninep_fuse::{AcTimes, CacheMode, MountConfig};

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
/// and the request count has not moved for [`QUIET`] polls in a row (the
/// kernel's RELEASE after a close can come late on a busy machine).
async fn rest(m: &Mounted) {
    let deadline = Instant::now() + REST;
    let (mut last, mut quiet) = (u64::MAX, 0);
    loop {
        let s = m.stats();
        let idle = s.requests_in_service == 0 && s.client.in_flight == 0;
        quiet = if idle && s.client.requests == last {
            quiet + 1
        } else {
            0
        };
        if quiet == QUIET {
            return;
        }
        // A count taken from a mount that never went quiet would be noise.
        assert!(
            Instant::now() <= deadline,
            "the mount never went quiet within {REST:?}: {s:?}"
        );
        last = s.client.requests;
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
}

/// Polls without a change that make [`rest`] believe the mount is idle.
const QUIET: u32 = 5;

/// A mount of a fresh diod export in `cache`, with a long TTL for loose
/// (so that no entry expires during a test), and the directory `d` in it.
async fn mounted(cache: CacheMode) -> (Mounted, PathBuf) {
    mounted_with(cache, |_| {}).await
}

/// The same with the mount's configuration `tweak`ed.
async fn mounted_with(
    cache: CacheMode,
    tweak: impl FnOnce(&mut MountConfig),
) -> (Mounted, PathBuf) {
    let m = Mounted::diod_with(|c| {
        c.cache = cache;
        c.ttl = Duration::from_secs(60);
        tweak(c);
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
///
/// `cache=cto` trusts what it was told for as long as `cache=loose` does
/// (60 s): with its default minimum of a second, which rows found their
/// attributes expired would depend on how long the steps before them
/// took, and a loaded machine moved rows by up to 3 requests. Expiry has
/// tests of its own.
async fn table(cache: CacheMode) -> Vec<(&'static str, u64)> {
    let (m, d) = mounted_with(cache, |c| {
        let long = Duration::from_secs(60);
        c.ac = AcTimes {
            reg_min: long,
            reg_max: long,
            dir_min: long,
            dir_max: long,
        };
    })
    .await;
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
    let p = m.path("s");
    rows.push(("storm of 10 files", count(&m, move || storm(&p, 10)).await));
    m.unmount_clean().await;
    rows
}

/// The benchmark's storm (`scripts/bench-mount.sh`) on `n` files in `d`:
/// mkdir, touch, `ls -l`, `find -ls`, stat of each, `rm -r`.
fn storm(d: &Path, n: usize) {
    let d = d.display();
    let script = format!(
        "mkdir {d} && seq -f '{d}/f%05g' {n} | xargs touch && ls -l {d} >/dev/null \
         && find {d} -ls >/dev/null && find {d} -type f -print0 | xargs -0 stat >/dev/null \
         && rm -r {d}"
    );
    sh(&script);
}

/// What each row of [`table`] costs today, in requests, with
/// `cache=none`, `cto` and `loose`. The counts do not move from run to
/// run, nor on a loaded machine. A row that costs more is a round trip
/// added somewhere, and fails the test; one that costs less is welcome,
/// and fails it too until its pin comes down, so that the pins stay what
/// the code does.
const PINNED: [(&str, [u64; 3]); 11] = [
    ("create (open O_CREAT, close)", [8, 8, 8]),
    ("touch (create + utimensat)", [10, 7, 7]),
    ("stat after create", [5, 0, 0]),
    ("stat again", [5, 0, 0]),
    ("ls -l of 10 files", [186, 38, 38]),
    ("find -ls of 10 files", [45, 1, 1]),
    ("stat of a missing name", [3, 0, 0]),
    ("stat of it again", [3, 0, 0]),
    ("rm", [6, 2, 2]),
    ("rm -r of 9 files", [41, 15, 15]),
    ("storm of 10 files", [437, 85, 85]),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn table_of_requests_per_syscall() {
    let _serial = one_at_a_time().await;
    let mut off = Vec::new();
    for (i, cache) in [CacheMode::None, CacheMode::Cto, CacheMode::Loose]
        .into_iter()
        .enumerate()
    {
        let rows = table(cache).await;
        let names: Vec<_> = rows.iter().map(|(what, _)| *what).collect();
        let pinned: Vec<_> = PINNED.iter().map(|(what, _)| *what).collect();
        assert_eq!(names, pinned, "the table's rows");
        for ((what, n), (_, pins)) in rows.into_iter().zip(PINNED) {
            println!("{cache:?}\t{n:3}\t{what}");
            if n != pins[i] {
                off.push(format!("{cache:?} {what}: {n}, pinned at {}", pins[i]));
            }
        }
    }
    assert!(off.is_empty(), "rows off their pins:\n{}", off.join("\n"));
}

/// Write `n` empty files `g0`.. into the export's `d`, behind the mount's
/// back (so that the mount knows nothing of them yet).
fn files_behind(m: &Mounted, n: usize) {
    for i in 0..n {
        fs::write(m.local(&format!("d/g{i}")), b"").unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn none_stat_of_a_known_file_is_a_walk_per_component() {
    let _serial = one_at_a_time().await;
    let (m, d) = mounted(CacheMode::None).await;
    files_behind(&m, 1);
    let p = d.join("g0");
    count(&m, move || stat(&p)).await;
    // Now known: each component costs a Twalk and the Tclunk of the fid
    // the walk replaces (landing on the same qid, the attributes the
    // kernel holds are given again: no Tgetattr); then one Tgetattr for
    // the stat itself.
    let p = d.join("g0");
    let n = count(&m, move || stat(&p)).await;
    assert!(n <= 5, "stat of a known file took {n} requests");
    m.unmount_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn storm_of_ten_files_within_its_request_budget() {
    let _serial = one_at_a_time().await;
    // cache=none: 612 requests before the lookups of known names stopped
    // sending a Tgetattr (the kernel's attributes given again), 437 after.
    // cache=loose: 139 before a directory made through the mount knew its
    // names, files inherited missing xattrs and touch's times were applied
    // without a Tgetattr; 99 after.
    for (cache, most) in [
        (CacheMode::None, 460),
        (CacheMode::Cto, 105),
        (CacheMode::Loose, 105),
    ] {
        let (m, _) = mounted(cache).await;
        let p = m.path("s");
        let n = count(&m, move || storm(&p, 10)).await;
        assert!(n <= most, "{cache:?}: storm of 10 files took {n} requests");
        m.unmount_clean().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn loose_stat_and_listing_after_create_reach_no_server() {
    let _serial = one_at_a_time().await;
    let (m, d) = mounted(CacheMode::Loose).await;
    let f = d.join("f");
    let p = f.clone();
    let n = count(&m, move || drop(fs::File::create(p).unwrap())).await;
    // Negative lookup, clone, Tlcreate, Tgetattr with the walk of the
    // inode's fid, Tclunk at close; the first create in a directory also
    // asks it for the two extended attributes its files inherit the
    // absence of (absent.rs).
    assert!(n <= 8, "create took {n} requests");
    let p = f.clone();
    assert_eq!(count(&m, move || stat(&p)).await, 0, "stat after create");
    let p = d.join("t");
    let n = count(&m, move || drop(sh(&format!("touch {}", p.display())))).await;
    // As above (no probe), and the Tsetattr with no Tgetattr after it.
    assert!(n <= 7, "touch took {n} requests (its setattr walked?)");
    let p = d.clone();
    count(&m, move || drop(sh(&format!("ls -l {}", p.display())))).await;
    // Everything is fresh now: listing again costs the open and close of
    // the directory (and its statfs for find), no Tgetattr, no Txattrwalk.
    let p = d.clone();
    let n = count(&m, move || drop(sh(&format!("ls -l {}", p.display())))).await;
    assert!(n <= 3, "second ls -l took {n} requests");
    let p = d.clone();
    let n = count(&m, move || drop(sh(&format!("find {} -ls", p.display())))).await;
    assert!(n <= 4, "find -ls after ls -l took {n} requests");
    m.unmount_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn loose_missing_names_are_looked_up_once() {
    let _serial = one_at_a_time().await;
    let (m, d) = mounted(CacheMode::Loose).await;
    let p = d.join("nope");
    assert_eq!(
        count(&m, move || assert!(fs::metadata(p).is_err())).await,
        1
    );
    let p = d.join("nope");
    assert_eq!(
        count(&m, move || assert!(fs::metadata(p).is_err())).await,
        0
    );
    // Made through the mount: seen at once despite the negative entry.
    let p = d.join("nope");
    blocking(move || fs::write(&p, b"x").unwrap()).await;
    let p = d.join("nope");
    assert_eq!(blocking(move || fs::read(p).unwrap()).await, b"x");
    m.unmount_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rm_of_a_looked_up_file_is_one_tremove() {
    let _serial = one_at_a_time().await;
    for cache in [CacheMode::None, CacheMode::Loose] {
        let (m, d) = mounted(cache).await;
        files_behind(&m, 2);
        // The first removal learns whether diod has Tunlinkat.
        let p = d.join("g1");
        blocking(move || fs::remove_file(p).unwrap()).await;
        let p = d.join("g0");
        count(&m, move || stat(&p)).await;
        let before = m.stats().client.requests;
        let p = d.join("g0");
        let n = count(&m, move || fs::remove_file(p).unwrap()).await;
        // cache=none revalidates d and g0 first (a Twalk and a Tclunk
        // each); then one Tremove, no walk of a fid of its own.
        let most = if cache == CacheMode::None { 5 } else { 1 };
        assert!(n <= most, "{cache:?}: rm took {n} requests (from {before})");
        assert!(!m.local("d/g0").exists());
        m.unmount_clean().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reading_an_empty_file_sends_no_tflush() {
    let _serial = one_at_a_time().await;
    let (m, d) = mounted(CacheMode::None).await;
    files_behind(&m, 1);
    let before = m.stats().client.flushes_sent;
    let p = d.join("g0");
    let n = count(&m, move || assert!(fs::read(p).unwrap().is_empty())).await;
    assert_eq!(
        m.stats().client.flushes_sent,
        before,
        "Treads past EOF flushed"
    );
    assert!(n <= 24, "cat of an empty file took {n} requests");
    m.unmount_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn loose_a_directory_made_through_the_mount_needs_no_walk_of_new_names() {
    let _serial = one_at_a_time().await;
    let (m, _) = mounted(CacheMode::Loose).await;
    let k = m.path("k");
    let p = k.clone();
    blocking(move || fs::create_dir(p).unwrap()).await;
    // Known empty: a missing name costs nothing.
    let p = k.join("nope");
    let n = count(&m, move || assert!(fs::metadata(p).is_err())).await;
    assert_eq!(n, 0, "lookup in a directory made through the mount");
    let p = k.clone();
    blocking(move || drop(sh(&format!("touch {}/a", p.display())))).await;
    // The second touch: clone of the directory's fid, Tlcreate, Tgetattr
    // and the walk of the inode's fid, Tsetattr, Tclunk. No Twalk of the
    // missing name, no Tgetattr after the Tsetattr, no probe.
    let walks = m.requests_of("Twalk");
    let p = k.clone();
    let n = count(&m, move || drop(sh(&format!("touch {}/b", p.display())))).await;
    assert!(n <= 6, "touch of a new name took {n} requests");
    assert!(
        m.requests_of("Twalk") - walks <= 2,
        "the missing name walked"
    );
    // Files made here inherit the directory's missing xattrs: `ls -l`
    // asks the server for none of theirs (one for the directory's own
    // access ACL).
    let p = k.clone();
    blocking(move || drop(sh(&format!("cd {} && touch c d e f g", p.display())))).await;
    let xattrs = m.requests_of("Txattrwalk");
    let p = k.clone();
    let out = blocking(move || sh(&format!("ls -l {}", p.display()))).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains(" g\n"));
    rest(&m).await;
    let n = m.requests_of("Txattrwalk") - xattrs;
    assert!(n <= 1, "ls -l of 7 new files asked for {n} xattrs");
    // A directory made here lacks what this one lacks: a create in it
    // asks nothing either.
    let p = k.clone();
    let n = count_types(&m, &["Txattrwalk"], move || {
        drop(sh(&format!(
            "mkdir {0}/sub && touch {0}/sub/x",
            p.display()
        )))
    })
    .await;
    assert_eq!(n, [("Txattrwalk", 0)], "the new directory was probed");
    m.unmount_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_written_since_its_create_is_looked_up_and_linked_without_a_walk() {
    let _serial = one_at_a_time().await;
    for cache in [CacheMode::Cto, CacheMode::Loose] {
        let (m, d) = mounted(cache).await;
        // The create's entry is given with a TTL of zero (`early.rs`) and
        // the write drops the attributes: the next lookup of the name
        // needs them, through the file's own fid (as `git add` does for
        // every object it writes, before it links it to its name).
        let p = d.join("obj");
        blocking(move || fs::write(p, b"x").unwrap()).await;
        // Looked up relative to the directory held open: only the file's
        // entry is in question, not the directory's.
        let dir = fs::File::open(&d).unwrap();
        let n = count_types(&m, &["Twalk", "Tgetattr", "Tclunk"], move || {
            use std::os::fd::AsRawFd;
            let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
            // SAFETY: a NUL-terminated name and a buffer of the right size.
            let r = unsafe { libc::fstatat(dir.as_raw_fd(), c"obj".as_ptr(), st.as_mut_ptr(), 0) };
            assert_eq!(r, 0, "fstatat: {}", std::io::Error::last_os_error());
        })
        .await;
        assert_eq!(
            n,
            [("Twalk", 0), ("Tgetattr", 1), ("Tclunk", 0)],
            "{cache:?}: the lookup after the write"
        );
        // Linked to a second name: the attributes just fetched gain the
        // link, with no Tgetattr, and show it.
        let (from, to) = (d.join("obj"), d.join("obj2"));
        let n = count_types(&m, &["Tlink", "Tgetattr"], move || {
            fs::hard_link(from, to).unwrap()
        })
        .await;
        assert_eq!(n, [("Tlink", 1), ("Tgetattr", 0)], "{cache:?}: link");
        use std::os::unix::fs::MetadataExt;
        assert_eq!(fs::metadata(d.join("obj2")).unwrap().nlink(), 2);
        assert_eq!(fs::metadata(m.local("d/obj")).unwrap().nlink(), 2);
        m.unmount_clean().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_name_just_found_missing_is_not_asked_for_again_before_it_is_made() {
    let _serial = one_at_a_time().await;
    for cache in [CacheMode::Cto, CacheMode::Loose] {
        let (m, d) = mounted(cache).await;
        fs::write(m.local("d/f"), b"f").unwrap();
        stat(&d.join("f"));
        // A directory whose names are not all known (made behind the
        // mount). The kernel looks a name up again before it makes it,
        // whatever its negative entry says: git's check that an object is
        // missing, then its link to that name.
        let dir = fs::File::open(&d).unwrap();
        let n = count_types(&m, &["Twalk", "Tlink"], move || {
            use std::os::fd::AsRawFd;
            let fd = dir.as_raw_fd();
            let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
            // SAFETY: NUL-terminated names and a buffer of the right size.
            let r = unsafe { libc::fstatat(fd, c"x".as_ptr(), st.as_mut_ptr(), 0) };
            assert_eq!(r, -1, "x exists");
            // SAFETY: NUL-terminated names.
            let r = unsafe { libc::linkat(fd, c"f".as_ptr(), fd, c"x".as_ptr(), 0) };
            assert_eq!(r, 0, "linkat: {}", std::io::Error::last_os_error());
        })
        .await;
        assert_eq!(n, [("Twalk", 1), ("Tlink", 1)], "{cache:?}");
        // Made now: found at once, and on the server.
        stat(&d.join("x"));
        assert_eq!(fs::read(m.local("d/x")).unwrap(), b"f");
        m.unmount_clean().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tree_of_new_directories_is_asked_for_inherited_xattrs_once() {
    let _serial = one_at_a_time().await;
    let (m, d) = mounted(CacheMode::Cto).await;
    // The first mkdir asks its parent (SELinux label, default ACL); each
    // directory made below inherits the answer, and so do the files.
    let p = d.clone();
    let n = count_types(&m, &["Txattrwalk"], move || {
        let cmd = "mkdir -p {0}/a/b/c && touch {0}/a/f {0}/a/b/f {0}/a/b/c/f";
        let out = sh(&cmd.replace("{0}", &p.display().to_string()));
        assert!(out.status.success(), "{out:?}");
    })
    .await;
    assert_eq!(n, [("Txattrwalk", 2)]);
    m.unmount_clean().await;
}

/// The requests of each type in `types` that `op` made the mount send.
async fn count_types<F: FnOnce() + Send + 'static>(
    m: &Mounted,
    types: &[&'static str],
    op: F,
) -> Vec<(&'static str, u64)> {
    rest(m).await;
    let before: Vec<u64> = types.iter().map(|t| m.requests_of(t)).collect();
    blocking(op).await;
    rest(m).await;
    types
        .iter()
        .zip(before)
        .map(|(t, b)| (*t, m.requests_of(t) - b))
        .collect()
}

/// `cat` of a small file the kernel has looked up: with the page cache,
/// one Tlopen with its Tgetattr (one round trip, on the inode's own fid:
/// no Twalk), one Tread (none past the end: the kernel knows the size) and
/// the Tclunk at close. Again, unchanged: the fid walked anew (the first
/// open took the inode's), and no Tread (the pages are kept).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reading_a_small_file_is_an_open_a_read_and_a_clunk() {
    let _serial = one_at_a_time().await;
    const TYPES: &[&str] = &["Twalk", "Tlopen", "Tgetattr", "Tread", "Tclunk"];
    let row = |walk, read| {
        [
            ("Twalk", walk),
            ("Tlopen", 1),
            ("Tgetattr", 1),
            ("Tread", read),
            ("Tclunk", 1),
        ]
        .to_vec()
    };
    for cache in [CacheMode::Cto, CacheMode::Loose] {
        let (m, d) = mounted(cache).await;
        fs::write(m.local("d/small"), vec![7u8; 3000]).unwrap();
        let p = d.join("small");
        blocking(move || stat(&p)).await;
        let cat = |p: PathBuf| move || assert_eq!(fs::read(p).unwrap().len(), 3000);
        let first = count_types(&m, TYPES, cat(d.join("small"))).await;
        assert_eq!(first, row(0, 1), "{cache:?}: first cat");
        let again = count_types(&m, TYPES, cat(d.join("small"))).await;
        assert_eq!(again, row(1, 0), "{cache:?}: cat again");
        m.unmount_clean().await;
    }
}

/// With `cache=cto`, a file the kernel forgot (`drop_caches`) and looks up
/// again while its attributes are still trusted (old files: 30 s) costs a
/// Twalk per component and no Tgetattr: the attributes cached under the
/// number it gets back serve.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cto_a_forgotten_file_found_again_needs_no_tgetattr() {
    let _serial = one_at_a_time().await;
    let (m, _) = mounted(CacheMode::Cto).await;
    // Made behind the mount's back, and old: trusted for acregmax.
    fs::create_dir(m.local("o")).unwrap();
    fs::write(m.local("o/old"), b"x").unwrap();
    let (old, dir) = (m.local("o/old"), m.local("o"));
    blocking(move || {
        sh(&format!(
            "touch -d 2020-01-01 {} {}",
            old.display(),
            dir.display()
        ));
    })
    .await;
    let p = m.path("o/old");
    blocking(move || stat(&p)).await;
    let s = m.settle_to(1, 1).await;
    assert_eq!(s.inodes, 1, "the kernel did not forget: {s:?}");
    let p = m.path("o/old");
    let n = count_types(&m, &["Twalk", "Tgetattr"], move || stat(&p)).await;
    assert_eq!(n, [("Twalk", 2), ("Tgetattr", 0)]);
    m.unmount_clean().await;
}
