//! A real FUSE mount of diod's export, used with system calls and tools:
//! lookups, reads, writes, directories, renames, links, attributes,
//! xattrs, statfs, in both cache modes, with fids back to the baseline
//! once the kernel forgets everything.

use std::ffi::OsStr;
use std::fs;
use std::io::{ErrorKind, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::mount_support::{arg, blocking, sh, umask, Mounted};
use ninep_fuse::CacheMode;

/// Bytes that depend on their offset, so that a shifted read shows.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| ((i * 31 + seed as usize) % 251) as u8)
        .collect()
}

fn errno(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(-1)
}

/// One test per cache mode.
macro_rules! all_modes {
    ($body:ident: $none:ident, $cto:ident, $loose:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $none() {
            $body(CacheMode::None).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $cto() {
            $body(CacheMode::Cto).await;
        }
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $loose() {
            $body(CacheMode::Loose).await;
        }
    };
}

async fn reads_what_the_server_has(cache: CacheMode) {
    let m = Mounted::diod(cache).await;
    let (local, mnt) = (m.export.clone(), m.dir.clone());
    blocking(move || {
        fs::write(local.join("small"), b"hello 9p\n").unwrap();
        fs::create_dir(local.join("sub")).unwrap();
        fs::write(local.join("sub/big"), pattern(8 << 20, 7)).unwrap();
        assert_eq!(fs::read(mnt.join("small")).unwrap(), b"hello 9p\n");
        let big = fs::read(mnt.join("sub/big")).unwrap();
        assert!(big == pattern(8 << 20, 7), "8 MiB read back differs");
        let meta = fs::metadata(mnt.join("sub/big")).unwrap();
        assert_eq!(meta.len(), 8 << 20);
        assert!(meta.is_file());
        let mut names: Vec<_> = fs::read_dir(&mnt)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["small", "sub"]);
        let e = fs::metadata(mnt.join("missing")).unwrap_err();
        assert_eq!(errno(e), libc::ENOENT);
        let up = fs::metadata(mnt.join("sub/..")).unwrap();
        assert_eq!(up.ino(), fs::metadata(&mnt).unwrap().ino());
    })
    .await;
    m.unmount().await;
}
all_modes!(reads_what_the_server_has: reads_uncached, reads_cto, reads_loose);

async fn writes_reach_the_server(cache: CacheMode) {
    let m = Mounted::diod(cache).await;
    let (local, mnt) = (m.export.clone(), m.dir.clone());
    blocking(move || {
        fs::write(mnt.join("w"), b"abc").unwrap();
        assert_eq!(fs::read(local.join("w")).unwrap(), b"abc");
        assert_eq!(fs::read(mnt.join("w")).unwrap(), b"abc");

        // 8 MiB, checked with sha256sum on both sides.
        fs::write(mnt.join("big"), pattern(8 << 20, 3)).unwrap();
        let sums = sh(&format!(
            "sha256sum < {} && sha256sum < {}",
            arg(&mnt.join("big")),
            arg(&local.join("big"))
        ));
        let sums = String::from_utf8(sums.stdout).unwrap();
        let lines: Vec<_> = sums.lines().collect();
        assert_eq!(lines[0], lines[1]);
        assert!(fs::read(mnt.join("big")).unwrap() == pattern(8 << 20, 3));

        // Overwrite in the middle, append, truncate.
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(mnt.join("w"))
            .unwrap();
        f.seek(SeekFrom::Start(1)).unwrap();
        f.write_all(b"X").unwrap();
        drop(f);
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(mnt.join("w"))
            .unwrap();
        f.write_all(b"def").unwrap();
        drop(f);
        assert_eq!(fs::read(local.join("w")).unwrap(), b"aXcdef");
        let f = fs::OpenOptions::new()
            .write(true)
            .open(mnt.join("w"))
            .unwrap();
        f.set_len(2).unwrap();
        drop(f);
        assert_eq!(fs::read(mnt.join("w")).unwrap(), b"aX");
        fs::write(mnt.join("w"), b"new").unwrap(); // O_TRUNC
        assert_eq!(fs::read(local.join("w")).unwrap(), b"new");
        // fsync and fdatasync
        let f = fs::OpenOptions::new()
            .write(true)
            .open(mnt.join("w"))
            .unwrap();
        f.sync_all().unwrap();
        f.sync_data().unwrap();
        drop(f);
        sh(&format!("sync {}", arg(&mnt.join("w"))));

        // O_EXCL on an existing file.
        let e = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(mnt.join("w"))
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        // Mode of a new file.
        let f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .open(mnt.join("m"))
            .unwrap();
        drop(f);
        let mode = fs::metadata(local.join("m")).unwrap().mode();
        assert_eq!(mode & 0o777, 0o640 & !umask());
    })
    .await;
    m.unmount().await;
}
all_modes!(writes_reach_the_server: writes_uncached, writes_cto, writes_loose);

async fn names(cache: CacheMode) {
    let m = Mounted::diod(cache).await;
    let (local, mnt) = (m.export.clone(), m.dir.clone());
    blocking(move || {
        fs::create_dir_all(mnt.join("a/b/c")).unwrap();
        assert!(local.join("a/b/c").is_dir());
        fs::write(mnt.join("a/b/c/f"), b"deep").unwrap();
        // rename a directory, then use what was below it
        fs::rename(mnt.join("a/b"), mnt.join("a/B")).unwrap();
        assert_eq!(fs::read(mnt.join("a/B/c/f")).unwrap(), b"deep");
        assert!(!local.join("a/b").exists());
        fs::write(mnt.join("a/B/c/g"), b"more").unwrap();
        assert_eq!(fs::read(local.join("a/B/c/g")).unwrap(), b"more");
        // rename over an existing file, and across directories
        fs::write(mnt.join("x"), b"x").unwrap();
        fs::write(mnt.join("y"), b"y").unwrap();
        fs::rename(mnt.join("x"), mnt.join("y")).unwrap();
        assert_eq!(fs::read(mnt.join("y")).unwrap(), b"x");
        assert_eq!(
            errno(fs::metadata(mnt.join("x")).unwrap_err()),
            libc::ENOENT
        );
        fs::rename(mnt.join("y"), mnt.join("a/B/y")).unwrap();
        assert_eq!(fs::read(local.join("a/B/y")).unwrap(), b"x");
        // unlink and rmdir, and their errors
        let e = fs::remove_dir(mnt.join("a/B/y")).unwrap_err();
        assert_eq!(errno(e), libc::ENOTDIR);
        let e = fs::remove_file(mnt.join("a/B/c")).unwrap_err();
        assert!(
            matches!(errno(e), libc::EISDIR | libc::EPERM),
            "unlink of a directory"
        );
        let e = fs::remove_dir(mnt.join("a/B/c")).unwrap_err();
        assert_eq!(errno(e), libc::ENOTEMPTY);
        fs::remove_file(mnt.join("a/B/y")).unwrap();
        fs::remove_dir_all(mnt.join("a")).unwrap();
        assert!(!local.join("a").exists());
        // symlinks
        std::os::unix::fs::symlink("target/of/link", mnt.join("l")).unwrap();
        assert_eq!(
            fs::read_link(mnt.join("l")).unwrap().to_str(),
            Some("target/of/link")
        );
        assert!(fs::symlink_metadata(mnt.join("l")).unwrap().is_symlink());
        assert_eq!(
            fs::read_link(local.join("l")).unwrap().to_str(),
            Some("target/of/link")
        );
        // mknod: a FIFO
        sh(&format!("mkfifo -m 0640 {}", arg(&mnt.join("fifo"))));
        let t = fs::symlink_metadata(local.join("fifo")).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&t.file_type()));
        let t = fs::symlink_metadata(mnt.join("fifo")).unwrap();
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&t.file_type()));
        // hard links
        fs::write(mnt.join("h1"), b"one").unwrap();
        fs::hard_link(mnt.join("h1"), mnt.join("h2")).unwrap();
        let (m1, m2) = (
            fs::metadata(mnt.join("h1")).unwrap(),
            fs::metadata(mnt.join("h2")).unwrap(),
        );
        assert_eq!((m1.ino(), m1.nlink()), (m2.ino(), 2));
        fs::write(mnt.join("h2"), b"two").unwrap();
        assert_eq!(fs::read(mnt.join("h1")).unwrap(), b"two");
        fs::remove_file(mnt.join("h1")).unwrap();
        assert_eq!(fs::metadata(mnt.join("h2")).unwrap().nlink(), 1);
        // A name that is reused for another kind of file.
        fs::remove_file(mnt.join("h2")).unwrap();
        fs::create_dir(mnt.join("h2")).unwrap();
        assert!(fs::metadata(mnt.join("h2")).unwrap().is_dir());
    })
    .await;
    m.unmount().await;
}
all_modes!(names: names_uncached, names_cto, names_loose);

/// Names are bytes, as on Linux: a file, a directory and a symlink target
/// that are not UTF-8 go through the mount unchanged.
async fn non_utf8_names(cache: CacheMode) {
    let m = Mounted::diod(cache).await;
    let (local, mnt) = (m.export.clone(), m.dir.clone());
    blocking(move || {
        let (cafe, moved) = (OsStr::from_bytes(b"caf\xe9"), OsStr::from_bytes(b"\xff-x"));
        fs::write(mnt.join(cafe), b"latin-1").unwrap();
        assert_eq!(fs::read(local.join(cafe)).unwrap(), b"latin-1");
        let listed: Vec<_> = fs::read_dir(&mnt)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(listed, [cafe]);
        let meta = fs::metadata(mnt.join(cafe)).unwrap();
        assert!(meta.is_file() && meta.len() == 7);
        fs::rename(mnt.join(cafe), mnt.join(moved)).unwrap();
        assert!(!local.join(cafe).exists());
        assert_eq!(fs::read(local.join(moved)).unwrap(), b"latin-1");
        let e = fs::metadata(mnt.join(cafe)).unwrap_err();
        assert_eq!(errno(e), libc::ENOENT);
        fs::remove_file(mnt.join(moved)).unwrap();
        assert!(!local.join(moved).exists());
        // A directory, and a symlink whose target is not UTF-8.
        let (dir, target) = (
            OsStr::from_bytes(b"d\xe9"),
            OsStr::from_bytes(b"to/\xe9t\xe9"),
        );
        fs::create_dir(mnt.join(dir)).unwrap();
        assert!(local.join(dir).is_dir());
        std::os::unix::fs::symlink(target, mnt.join(dir).join(cafe)).unwrap();
        let link = mnt.join(dir).join(cafe);
        assert_eq!(fs::read_link(&link).unwrap().as_os_str(), target);
        assert!(fs::symlink_metadata(&link).unwrap().is_symlink());
        let on_server = fs::read_link(local.join(dir).join(cafe)).unwrap();
        assert_eq!(on_server.as_os_str(), target);
        fs::remove_file(&link).unwrap();
        fs::remove_dir(mnt.join(dir)).unwrap();
        assert_eq!(fs::read_dir(&local).unwrap().count(), 0);
    })
    .await;
    m.unmount().await;
}
all_modes!(non_utf8_names: non_utf8_names_uncached, non_utf8_names_cto, non_utf8_names_loose);

async fn attributes(cache: CacheMode) {
    let m = Mounted::diod(cache).await;
    let (local, mnt) = (m.export.clone(), m.dir.clone());
    blocking(move || {
        fs::write(mnt.join("f"), b"0123456789").unwrap();
        fs::set_permissions(mnt.join("f"), fs::Permissions::from_mode(0o604)).unwrap();
        assert_eq!(
            fs::metadata(local.join("f")).unwrap().mode() & 0o7777,
            0o604
        );
        assert_eq!(fs::metadata(mnt.join("f")).unwrap().mode() & 0o7777, 0o604);
        // access(2), answered from the mode bits: root may read and
        // write anything, but execute only with some x bit.
        let f = arg(&mnt.join("f")).to_owned();
        sh(&format!("test -r {f} && test -w {f} && ! test -x {f}"));
        sh(&format!("chmod 0614 {f} && test -x {f} && chmod 0604 {f}"));
        sh(&format!("truncate -s 3 {}", arg(&mnt.join("f"))));
        assert_eq!(fs::read(local.join("f")).unwrap(), b"012");
        assert_eq!(fs::metadata(mnt.join("f")).unwrap().len(), 3);
        sh(&format!(
            "touch -d '2001-02-03 04:05:06.5 UTC' {}",
            arg(&mnt.join("f"))
        ));
        let l = fs::metadata(local.join("f")).unwrap();
        assert_eq!((l.mtime(), l.mtime_nsec()), (981_173_106, 500_000_000));
        assert_eq!(l.atime(), 981_173_106);
        assert_eq!(fs::metadata(mnt.join("f")).unwrap().mtime(), 981_173_106);
        // touch without a date: UTIME_NOW, the server's clock
        sh(&format!("touch {}", arg(&mnt.join("f"))));
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let l = fs::metadata(local.join("f")).unwrap();
        assert!(
            (l.mtime() - now).abs() < 10,
            "mtime {} now {now}",
            l.mtime()
        );
        // chown (we are root, so is the server)
        std::os::unix::fs::chown(mnt.join("f"), Some(1234), Some(5678)).unwrap();
        let l = fs::metadata(local.join("f")).unwrap();
        assert_eq!((l.uid(), l.gid()), (1234, 5678));
        let s = fs::metadata(mnt.join("f")).unwrap();
        assert_eq!((s.uid(), s.gid()), (1234, 5678));
    })
    .await;
    m.unmount().await;
}
all_modes!(attributes: attributes_uncached, attributes_cto, attributes_loose);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn xattrs() {
    let m = Mounted::diod(CacheMode::None).await;
    let (local, mnt) = (m.export.clone(), m.dir.clone());
    blocking(move || {
        let f = mnt.join("x");
        fs::write(&f, b"").unwrap();
        sh(&format!("setfattr -n user.colour -v blue {}", arg(&f)));
        let out = sh(&format!(
            "getfattr --only-values -n user.colour {}",
            arg(&f)
        ));
        assert_eq!(out.stdout, b"blue");
        let out = sh(&format!(
            "getfattr --only-values -n user.colour {}",
            arg(&local.join("x"))
        ));
        assert_eq!(out.stdout, b"blue");
        let out = sh(&format!("getfattr -d --absolute-names {}", arg(&f)));
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains("user.colour=\"blue\""), "{text}");
        sh(&format!("setfattr -x user.colour {}", arg(&f)));
        let gone = std::process::Command::new("getfattr")
            .args(["-n", "user.colour"])
            .arg(&f)
            .output()
            .unwrap();
        assert!(!gone.status.success());
        assert!(String::from_utf8_lossy(&gone.stderr).contains("No such attribute"));
        // The size query and a too small buffer, by hand.
        let c = std::ffi::CString::new(arg(&f)).unwrap();
        sh(&format!("setfattr -n user.long -v 0123456789 {}", arg(&f)));
        let long = c"user.long";
        let mut buf = [0u8; 4];
        // SAFETY: valid C strings and a buffer of the length given.
        let (size, small) = unsafe {
            (
                libc::getxattr(c.as_ptr(), long.as_ptr(), std::ptr::null_mut(), 0),
                libc::getxattr(
                    c.as_ptr(),
                    long.as_ptr(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                ),
            )
        };
        assert_eq!(size, 10);
        assert_eq!(small, -1);
        assert_eq!(
            std::io::Error::last_os_error().raw_os_error(),
            Some(libc::ERANGE)
        );
    })
    .await;
    m.unmount().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statfs_shows_the_servers_numbers() {
    let m = Mounted::diod(CacheMode::None).await;
    let (local, mnt) = (m.export.clone(), m.dir.clone());
    blocking(move || {
        let fmt = "stat -f -c '%S %b %c' ";
        let ours = sh(&format!("{fmt}{}", arg(&mnt))).stdout;
        let theirs = sh(&format!("{fmt}{}", arg(&local))).stdout;
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            String::from_utf8(theirs).unwrap()
        );
        let df = sh(&format!("df -k {} | tail -1", arg(&mnt))).stdout;
        assert!(String::from_utf8(df).unwrap().starts_with("ninep-test"));
    })
    .await;
    m.unmount().await;
}

/// With `cache=none` every path component is looked up again on every
/// use (entry TTL 0), so `ls -l` of 10,000 entries costs some 15 round
/// trips per entry (lstat, and ls's two xattr probes); it runs only with
/// the page cache modes, where readdirplus fills the kernel's cache.
async fn big_directory(cache: CacheMode) {
    let m = Mounted::diod(cache).await;
    let (local, mnt) = (m.export.clone(), m.dir.clone());
    blocking(move || {
        fs::create_dir(local.join("big")).unwrap();
        for i in 0..10_000 {
            fs::write(local.join(format!("big/entry-{i:05}")), b"").unwrap();
        }
        let mut names: Vec<_> = fs::read_dir(mnt.join("big"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        let want: Vec<_> = (0..10_000).map(|i| format!("entry-{i:05}")).collect();
        assert_eq!(names, want);
        let out = sh(&format!("find {} -type f | wc -l", arg(&mnt.join("big"))));
        assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "10000");
        let ls = match cache {
            CacheMode::None => "ls -a",
            CacheMode::Cto | CacheMode::Loose => "ls -la",
        };
        let out = sh(&format!("{ls} {} | grep -c entry-", arg(&mnt.join("big"))));
        assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), "10000");
    })
    .await;
    // Everything closed and forgotten: back to the root's attach.
    m.unmount_clean().await;
}
all_modes!(big_directory: big_directory_uncached, big_directory_cto, big_directory_loose);

/// A small tree with every kind of entry `cp -a` must carry.
fn make_tree(root: &std::path::Path) {
    for d in ["d1/d2/d3", "empty", "d1/x"] {
        fs::create_dir_all(root.join(d)).unwrap();
    }
    let sizes = [0, 1, 4095, 65_536 + 7, (1 << 20) + 3, 3 << 20];
    for (i, n) in sizes.iter().enumerate() {
        fs::write(root.join(format!("d1/f{i}")), pattern(*n, i as u8)).unwrap();
        fs::write(root.join(format!("d1/d2/d3/g{i}")), pattern(*n / 3, 9)).unwrap();
    }
    fs::set_permissions(root.join("d1/f1"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(root.join("d1/f2"), fs::Permissions::from_mode(0o600)).unwrap();
    fs::set_permissions(root.join("d1/x"), fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink("d1/f0", root.join("link")).unwrap();
    std::os::unix::fs::symlink("nowhere", root.join("d1/dangling")).unwrap();
    fs::hard_link(root.join("d1/f3"), root.join("d1/f3-again")).unwrap();
    // Old times, so that no time is mistaken for UTIME_NOW.
    sh(&format!(
        "find {} -exec touch -h -d '2020-01-02 03:04:05.123456789' {{}} +",
        arg(root)
    ));
}

/// Type, mode, size, link target, mtime and path of everything below
/// (mtime to the nanosecond with `ns`, else to the second, as tar keeps).
fn listing(root: &std::path::Path, ns: bool) -> String {
    let t = if ns { "%T@" } else { "%Ts" };
    let out = sh(&format!(
        "cd {} && find . -mindepth 1 -printf '%y %m %s %l {t} %P\\n' | sort",
        arg(root)
    ));
    String::from_utf8(out.stdout).unwrap()
}

async fn cp_a_and_back(cache: CacheMode) {
    let m = Mounted::diod(cache).await;
    let src = ninep_tests::servers::temp_dir().unwrap();
    let out = ninep_tests::servers::temp_dir().unwrap();
    let (src, out) = (src.path().to_path_buf(), out.path().to_path_buf());
    let (local, mnt) = (m.export.clone(), m.dir.clone());
    blocking(move || {
        make_tree(&src);
        sh(&format!("cp -a {} {}", arg(&src), arg(&mnt.join("copy"))));
        let diff = "diff -r --no-dereference";
        sh(&format!("{diff} {} {}", arg(&src), arg(&mnt.join("copy"))));
        sh(&format!(
            "{diff} {} {}",
            arg(&src),
            arg(&local.join("copy"))
        ));
        let want = listing(&src, true);
        assert_eq!(listing(&mnt.join("copy"), true), want);
        assert_eq!(listing(&local.join("copy"), true), want);
        let links = fs::metadata(mnt.join("copy/d1/f3-again")).unwrap().nlink();
        assert_eq!(links, 2, "cp -a keeps hard links");
        // And back out with tar.
        sh(&format!(
            "tar -C {} -cf - copy | tar -C {} -xf -",
            arg(&mnt),
            arg(&out)
        ));
        sh(&format!("{diff} {} {}", arg(&src), arg(&out.join("copy"))));
        assert_eq!(listing(&out.join("copy"), false), listing(&src, false));
        sh(&format!("rm -rf {}", arg(&mnt.join("copy"))));
        assert!(!local.join("copy").exists());
    })
    .await;
    m.unmount_clean().await;
}
all_modes!(cp_a_and_back: cp_a_uncached, cp_a_cto, cp_a_loose);

/// unpfs has the by-name messages diod lacks (Trenameat, Tunlinkat) and
/// lacks the ones diod has (Trename, Tremove): the same operations work.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn renames_and_removals_on_unpfs() {
    let m = Mounted::unpfs(CacheMode::None).await;
    let (local, mnt) = (m.export.clone(), m.dir.clone());
    blocking(move || {
        fs::create_dir_all(mnt.join("d/e")).unwrap();
        fs::write(mnt.join("d/e/f"), b"unpfs").unwrap();
        fs::write(mnt.join("g"), b"g").unwrap();
        fs::rename(mnt.join("d"), mnt.join("D")).unwrap();
        assert_eq!(fs::read(mnt.join("D/e/f")).unwrap(), b"unpfs");
        fs::rename(mnt.join("g"), mnt.join("D/e/f")).unwrap();
        assert_eq!(fs::read(local.join("D/e/f")).unwrap(), b"g");
        fs::remove_file(mnt.join("D/e/f")).unwrap();
        fs::remove_dir(mnt.join("D/e")).unwrap();
        fs::remove_dir(mnt.join("D")).unwrap();
        assert_eq!(fs::read_dir(&local).unwrap().count(), 0);
        assert_eq!(fs::read_dir(&mnt).unwrap().count(), 0);
    })
    .await;
    m.unmount_clean().await;
}

/// git exercises renames over existing files (lock files), hard links,
/// mmap of pack and index files, fsync and many small files.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn git_works_inside_the_mount() {
    let m = Mounted::diod(CacheMode::None).await;
    let repo = m.dir.join("repo");
    blocking(move || {
        fs::create_dir(&repo).unwrap();
        let git = format!(
            "cd {} && git -c init.defaultBranch=main -c user.name=t -c user.email=t@t",
            arg(&repo)
        );
        sh(&format!("{git} init -q"));
        for i in 0..20 {
            fs::write(repo.join(format!("file{i}")), pattern(1000 * i, i as u8)).unwrap();
        }
        sh(&format!("{git} add -A && {git} commit -qm first"));
        fs::write(repo.join("file3"), b"changed").unwrap();
        sh(&format!("{git} commit -qam second && {git} gc -q"));
        let log = sh(&format!("{git} log --oneline | wc -l")).stdout;
        assert_eq!(String::from_utf8(log).unwrap().trim(), "2");
        let status = sh(&format!("{git} status --porcelain")).stdout;
        assert!(status.is_empty(), "{}", String::from_utf8_lossy(&status));
        sh(&format!("{git} fsck --no-progress"));
    })
    .await;
    m.unmount().await;
}

/// POSIX cases a conformance suite found: fstat of an open file whose
/// only name is gone (the kernel's GETATTR then names no handle), and a
/// hard link made through the surviving name after the first one was
/// unlinked.
async fn unlinked_names(cache: CacheMode) {
    let m = Mounted::diod(cache).await;
    let mnt = m.dir.clone();
    blocking(move || {
        let f = mnt.join("f");
        let mut open = fs::File::create(&f).unwrap();
        open.write_all(b"still here").unwrap();
        fs::remove_file(&f).unwrap();
        let meta = open.metadata().expect("fstat of an open, unlinked file");
        assert_eq!((meta.nlink(), meta.len()), (0, 10));
        drop(open);

        let (x, y) = (mnt.join("x"), mnt.join("y"));
        fs::write(&x, b"linked").unwrap();
        fs::hard_link(&x, &y).unwrap();
        fs::remove_file(&x).unwrap();
        fs::hard_link(&y, &x).expect("link y x after unlink x");
        assert_eq!(fs::read(&x).unwrap(), b"linked");
        assert_eq!(fs::metadata(&x).unwrap().nlink(), 2);
    })
    .await;
    m.unmount().await;
}
all_modes!(unlinked_names: unlinked_names_uncached, unlinked_names_cto, unlinked_names_loose);

/// A file mapped shared and writable: what is written through the mapping
/// reaches the server by msync, in every mode (with `cache=none` the file
/// is opened with direct I/O, which the kernel lets be mapped so only when
/// the mount asked for FUSE_DIRECT_IO_ALLOW_MMAP; without it mmap fails
/// with ENODEV).
async fn shared_writable_mappings_reach_the_server(cache: CacheMode) {
    let m = Mounted::diod(cache).await;
    let (local, mnt) = (m.export.clone(), m.dir.clone());
    blocking(move || {
        let len = 3 * 4096;
        fs::write(mnt.join("mapped"), vec![0u8; len]).unwrap();
        let f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(mnt.join("mapped"))
            .unwrap();
        let want = pattern(len, 11);
        // SAFETY: a fresh shared mapping of `len` bytes of an open file
        // descriptor; checked against MAP_FAILED before any use.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                std::os::fd::AsRawFd::as_raw_fd(&f),
                0,
            )
        };
        assert_ne!(
            p,
            libc::MAP_FAILED,
            "mmap: {}",
            std::io::Error::last_os_error()
        );
        // SAFETY: `p` maps `len` writable bytes until the munmap below.
        let mapped = unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), len) };
        mapped.copy_from_slice(&want);
        // SAFETY: `p` and `len` are the mapping made above.
        assert_eq!(unsafe { libc::msync(p, len, libc::MS_SYNC) }, 0, "msync");
        // SAFETY: the same mapping; `mapped` is not used after this.
        assert_eq!(unsafe { libc::munmap(p, len) }, 0, "munmap");
        drop(f);
        assert!(fs::read(local.join("mapped")).unwrap() == want, "server");
        assert!(fs::read(mnt.join("mapped")).unwrap() == want, "mount");
    })
    .await;
    m.unmount_clean().await;
}
all_modes!(shared_writable_mappings_reach_the_server: mmap_shared_none, mmap_shared_cto, mmap_shared_loose);

/// A time given to utimensat reaches the server exactly, however close to
/// the present; only UTIME_NOW (`touch` without a time) leaves the time to
/// the server's clock.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_given_time_is_set_exactly_even_a_moment_ago() {
    let m = Mounted::diod(CacheMode::None).await;
    let (local, mnt) = (m.export.clone(), m.dir.clone());
    blocking(move || {
        fs::write(mnt.join("t"), b"x").unwrap();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        // 5 ms ago, to the nanosecond (an odd one, so that no clock lands
        // on it by chance).
        let given = now - std::time::Duration::from_millis(5);
        let (sec, nsec) = (given.as_secs(), given.subsec_nanos() | 1);
        sh(&format!(
            "touch -m -d @{sec}.{nsec:09} {}",
            arg(&mnt.join("t"))
        ));
        let meta = fs::metadata(local.join("t")).unwrap();
        assert_eq!(
            (meta.mtime() as u64, meta.mtime_nsec() as u32),
            (sec, nsec),
            "the server's mtime"
        );
        sh(&format!("touch -m {}", arg(&mnt.join("t"))));
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let meta = fs::metadata(local.join("t")).unwrap();
        assert!(
            meta.mtime() as u64 + 2 >= now.as_secs(),
            "now, by the server"
        );
    })
    .await;
    m.unmount_clean().await;
}

/// `touch` without a time (UTIME_NOW) stamps the server's clock, not
/// ours: the scripted server's runs a day ahead of this machine's, and the
/// file's mtime is then a day ahead. A given time is set as given.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn utime_now_is_the_servers_clock() {
    use ninep_tests::scripted::{Config as ServerConfig, ScriptedServer};
    const DAY: u64 = 86_400;
    let sc = ServerConfig {
        clock_ahead: std::time::Duration::from_secs(DAY),
        ..Default::default()
    };
    let server = ScriptedServer::start_with(sc).expect("start the scripted server");
    let cfg = crate::mount_support::config("/", CacheMode::None);
    let m = Mounted::mount_at(server.addr().to_string(), cfg, Default::default()).await;
    let mnt = m.dir.clone();
    blocking(move || {
        let hello = mnt.join("hello");
        let ours = || {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs()
        };
        let before = ours();
        sh(&format!("touch -m {}", arg(&hello)));
        let after = ours();
        let mtime = fs::metadata(&hello).unwrap().mtime() as u64;
        assert!(
            (before + DAY..=after + DAY).contains(&mtime),
            "mtime {mtime}: not the server's clock ({before}..={after} + a day)"
        );
        sh(&format!("touch -m -d @1234567890 {}", arg(&hello)));
        assert_eq!(fs::metadata(&hello).unwrap().mtime(), 1_234_567_890);
    })
    .await;
    m.unmount_clean().await;
    drop(server);
}
