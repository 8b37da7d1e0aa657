//! What `cache=loose` answers without asking the server, checked against
//! diod on real mounts: the names of a directory made through the mount
//! (fuse/src/complete.rs), the extended attributes new files inherit the
//! absence of (fuse/src/absent.rs), and the times a `touch` sets
//! (fuse/src/fs/setattr.rs). Each test makes sure that what is answered
//! locally stays what the server holds, through our own changes, and that
//! changes made behind the mount's back show once the TTL has passed.

use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::mount_support::{blocking, sh, Mounted};
use ninep_fuse::CacheMode;

/// A loose mount of a fresh diod export whose TTL is `ttl`.
async fn loose(ttl: Duration) -> Mounted {
    Mounted::diod_with(|c| {
        c.cache = CacheMode::Loose;
        c.ttl = ttl;
    })
    .await
}

/// Whether `p` exists through the mount.
fn exists(p: &std::path::Path) -> bool {
    match fs::symlink_metadata(p) {
        Ok(_) => true,
        Err(e) if e.kind() == ErrorKind::NotFound => false,
        Err(e) => panic!("stat {}: {e}", p.display()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn our_own_changes_keep_a_known_directory_exact() {
    let m = loose(Duration::from_secs(60)).await;
    let k = m.path("k");
    blocking(move || {
        fs::create_dir(&k).unwrap();
        for n in ["a", "b", "c"] {
            fs::write(k.join(n), n).unwrap();
        }
        fs::rename(k.join("a"), k.join("moved")).unwrap();
        fs::rename(k.join("b"), k.join("c")).unwrap();
        fs::remove_file(k.join("c")).unwrap();
        fs::create_dir(k.join("sub")).unwrap();
        fs::write(k.join("sub/x"), "x").unwrap();
        fs::hard_link(k.join("moved"), k.join("linked")).unwrap();
        assert!(!exists(&k.join("a")) && !exists(&k.join("b")) && !exists(&k.join("c")));
        assert_eq!(fs::read(k.join("moved")).unwrap(), b"a");
        assert_eq!(fs::read(k.join("linked")).unwrap(), b"a");
        assert_eq!(fs::read(k.join("sub/x")).unwrap(), b"x");
        // A name removed and made again is found again.
        fs::write(k.join("c"), "again").unwrap();
        assert_eq!(fs::read(k.join("c")).unwrap(), b"again");
        // The kernel forgets its entries (the directory is held open, so
        // it stays the inode it is): every name is looked up anew,
        // answered from what the mount knows of the directory.
        let _held = fs::File::open(&k).unwrap();
        fs::write("/proc/sys/vm/drop_caches", "2").unwrap();
        for (n, want) in [("c", &b"again"[..]), ("moved", b"a"), ("linked", b"a")] {
            assert_eq!(fs::read(k.join(n)).unwrap(), want, "{n}");
        }
        assert!(exists(&k.join("sub/x")));
        assert!(!exists(&k.join("a")) && !exists(&k.join("b")));
    })
    .await;
    let mut names: Vec<_> = fs::read_dir(m.local("k"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["c", "linked", "moved", "sub"], "the server's view");
    m.unmount_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_name_made_behind_the_mount_shows_after_the_ttl_and_is_never_clobbered() {
    let ttl = Duration::from_millis(1500);
    let m = loose(ttl).await;
    let k = m.path("k");
    let p = k.clone();
    blocking(move || fs::create_dir(p).unwrap()).await;
    fs::write(m.local("k/theirs"), "server").unwrap();
    fs::write(m.local("k/excl"), "server").unwrap();
    let p = k.clone();
    blocking(move || {
        // Within the TTL the mount believes the directory empty...
        assert!(
            !exists(&p.join("theirs")),
            "a known directory asked the server"
        );
        // ...but a create that must not replace a file still fails (the
        // server says so), and leaves the file alone.
        let excl = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(p.join("excl"));
        assert_eq!(excl.unwrap_err().kind(), ErrorKind::AlreadyExists);
    })
    .await;
    assert_eq!(fs::read(m.local("k/excl")).unwrap(), b"server");
    // The kernel keeps its negative entries for the TTL; then both show.
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    let p = k.clone();
    let (theirs, excl) = blocking(move || {
        (
            fs::read(p.join("theirs")).unwrap(),
            fs::read(p.join("excl")).unwrap(),
        )
    })
    .await;
    assert_eq!((&theirs[..], &excl[..]), (&b"server"[..], &b"server"[..]));
    m.unmount_clean().await;
}

/// A default ACL giving uid 1000 read access (the xattr's binary form:
/// version 2, then tag, permissions and id of each entry): new files in
/// the directory get an access ACL from it.
const DEFAULT_ACL: &str = "0x0200000001000700ffffffff02000400e803000004000500ffffffff\
                           10000500ffffffff20000500ffffffff";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn new_files_lack_inherited_xattrs_only_while_their_directory_does() {
    let m = loose(Duration::from_secs(60)).await;
    let k = m.path("k");
    let p = k.clone();
    let got = blocking(move || {
        fs::create_dir(&p).unwrap();
        fs::write(p.join("before"), "").unwrap();
        // Through the mount: the directory's knowledge is dropped.
        sh(&format!(
            "setfattr -n system.posix_acl_default -v {DEFAULT_ACL} {}",
            p.display()
        ));
        fs::write(p.join("after"), "").unwrap();
        let get = |n: &str| {
            let f = p.join(n);
            sh(&format!(
                "getfattr --absolute-names -e hex -n system.posix_acl_access {} 2>&1 || true",
                f.display()
            ))
        };
        (get("before"), get("after"))
    })
    .await;
    let (before, after) = (
        String::from_utf8_lossy(&got.0.stdout).into_owned(),
        String::from_utf8_lossy(&got.1.stdout).into_owned(),
    );
    assert!(before.contains("No such attribute"), "before: {before}");
    assert!(
        after.contains("system.posix_acl_access=0x02"),
        "after: {after}"
    );
    m.unmount_clean().await;
}

/// Seconds since the epoch of `t`.
fn secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn touch_times_answered_locally_match_the_server() {
    let ttl = Duration::from_millis(1500);
    let m = loose(ttl).await;
    let f = m.path("f");
    let p = f.clone();
    blocking(move || {
        fs::write(&p, "x").unwrap();
        sh(&format!(
            "touch -d '2001-02-03 04:05:06 UTC' {}",
            p.display()
        ));
        assert_eq!(fs::metadata(&p).unwrap().mtime(), 981173106);
        sh(&format!("touch {}", p.display()));
        let now = secs(SystemTime::now());
        let md = fs::metadata(&p).unwrap();
        assert!(
            (now - md.mtime()).abs() <= 2,
            "mtime {} now {now}",
            md.mtime()
        );
        assert!(
            (now - md.ctime()).abs() <= 2,
            "ctime {} now {now}",
            md.ctime()
        );
    })
    .await;
    let server = fs::metadata(m.local("f")).unwrap();
    tokio::time::sleep(ttl + Duration::from_millis(200)).await;
    let p = f.clone();
    let md = blocking(move || fs::metadata(p).unwrap()).await;
    assert_eq!(md.mtime(), server.mtime(), "after the TTL: the server's");
    assert_eq!(md.len(), 1);
    m.unmount_clean().await;
}
