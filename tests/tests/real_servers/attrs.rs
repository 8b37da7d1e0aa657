//! Cases on metadata and state: attributes, statfs, xattrs, locks, fsync.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use ninep_client::wire::{getattr, lock, setattr};
use ninep_client::{LockSpec, SetAttr};

use crate::common::*;

pub async fn setattr_mode_size_times(ctx: &mut Ctx) {
    let local = ctx.local("s");
    fs::write(&local, vec![7u8; 100]).unwrap();
    let f = ctx.walk("s").await;
    let set = |valid| SetAttr {
        valid,
        ..SetAttr::default()
    };

    ok(
        "chmod",
        f.setattr(&SetAttr {
            mode: 0o640,
            ..set(setattr::MODE)
        }),
    )
    .await;
    let a = ok("getattr", f.getattr(getattr::BASIC)).await;
    assert_eq!(a.mode & 0o7777, 0o640);
    assert_eq!(a.mode & 0o170000, 0o100000, "still S_IFREG");
    assert_eq!(meta(&local).permissions().mode() & 0o7777, 0o640);

    ok(
        "truncate",
        f.setattr(&SetAttr {
            size: 10,
            ..set(setattr::SIZE)
        }),
    )
    .await;
    assert_eq!(ok("getattr", f.getattr(getattr::SIZE)).await.size, 10);
    assert_eq!(fs::read(&local).unwrap(), vec![7u8; 10]);
    ok(
        "extend",
        f.setattr(&SetAttr {
            size: 5000,
            ..set(setattr::SIZE)
        }),
    )
    .await;
    let mut want = vec![7u8; 10];
    want.resize(5000, 0);
    assert_eq!(fs::read(&local).unwrap(), want);

    let times = SetAttr {
        atime_sec: 1_000_000_000,
        atime_nsec: 111_111_111,
        mtime_sec: 1_234_567_890,
        mtime_nsec: 987_654_321,
        ..set(setattr::ATIME | setattr::MTIME | setattr::ATIME_SET | setattr::MTIME_SET)
    };
    ok("utimens", f.setattr(&times)).await;
    let a = ok("getattr", f.getattr(getattr::ATIME | getattr::MTIME)).await;
    assert_eq!((a.atime_sec, a.atime_nsec), (1_000_000_000, 111_111_111));
    assert_eq!((a.mtime_sec, a.mtime_nsec), (1_234_567_890, 987_654_321));
    let m = meta(&local);
    assert_eq!((m.atime(), m.atime_nsec()), (1_000_000_000, 111_111_111));
    assert_eq!((m.mtime(), m.mtime_nsec()), (1_234_567_890, 987_654_321));

    // Without the _SET bits: the server's "now".
    ok("touch", f.setattr(&set(setattr::ATIME | setattr::MTIME))).await;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let m = meta(&local);
    match ctx.kind {
        Kind::Diod => {
            assert!(m.mtime().abs_diff(now as i64) < 60, "mtime {}", m.mtime());
            assert!(m.atime().abs_diff(now as i64) < 60, "atime {}", m.atime());
        }
        // unpfs acts only on ATIME_SET / MTIME_SET: "now" is silently
        // ignored, and the reply is success.
        Kind::Unpfs => {
            assert_eq!(m.mtime(), 1_234_567_890);
            assert_eq!(m.atime(), 1_000_000_000);
        }
    }
}

pub async fn getattr_matches_local(ctx: &mut Ctx) {
    let local = ctx.local("g");
    fs::write(&local, b"0123456789").unwrap();
    fs::set_permissions(&local, fs::Permissions::from_mode(0o604)).unwrap();
    let f = ctx.walk("g").await;
    let a = ok("getattr", f.getattr(getattr::ALL)).await;
    let m = meta(&local);
    assert_eq!(
        a.valid & getattr::BASIC,
        getattr::BASIC,
        "valid {:#x}",
        a.valid
    );
    assert_eq!(a.qid.path, m.ino());
    assert_eq!(a.mode, m.mode());
    assert_eq!((a.uid, a.gid), (m.uid(), m.gid()));
    assert_eq!(a.nlink, m.nlink());
    assert_eq!(a.size, 10);
    assert_eq!(a.blocks, m.blocks());
    assert_eq!(
        (a.mtime_sec as i64, a.mtime_nsec as i64),
        (m.mtime(), m.mtime_nsec())
    );
    assert_eq!(
        (a.ctime_sec as i64, a.ctime_nsec as i64),
        (m.ctime(), m.ctime_nsec())
    );

    let r = ok("getattr root", ctx.root.getattr(getattr::BASIC)).await;
    assert_eq!(r.mode & 0o170000, 0o040000, "S_IFDIR");
    assert_eq!(r.qid.path, ino(&ctx.dir));
}

pub async fn statfs(ctx: &mut Ctx) {
    let s = ok("statfs", ctx.root.statfs()).await;
    assert!(s.bsize > 0, "{s:?}");
    assert!(s.namelen > 0, "{s:?}");
    assert!(
        s.blocks > 0 && s.bfree <= s.blocks && s.bavail <= s.bfree,
        "{s:?}"
    );
    assert!(s.files > 0 && s.ffree <= s.files, "{s:?}");
    let ty = match ctx.kind {
        // diod reports V9FS_MAGIC, not the exported file system's type.
        Kind::Diod => 0x0102_1997,
        // unpfs builds it from statvfs(3), which has no type: always 0.
        Kind::Unpfs => 0,
    };
    assert_eq!(s.ty, ty, "{s:?}");
    // Any fid in the export answers for the same file system.
    fs::write(ctx.local("file"), b"").unwrap();
    let f = ctx.walk("file").await;
    let t = ok("statfs of a file", f.statfs()).await;
    assert_eq!(
        (t.ty, t.bsize, t.blocks, t.fsid),
        (s.ty, s.bsize, s.blocks, s.fsid)
    );
}

/// Whether the export's file system takes `user.*` xattrs (tmpfs may not).
fn local_user_xattrs(ctx: &Ctx) -> bool {
    let probe = ctx.local("xattr-probe");
    fs::write(&probe, b"").unwrap();
    let set = Command::new("setfattr")
        .args(["-n", "user.probe", "-v", "1"])
        .arg(&probe)
        .status()
        .expect("setfattr (apt-get install -y attr)");
    fs::remove_file(&probe).unwrap();
    set.success()
}

fn getfattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let out = Command::new("getfattr")
        .args(["--only-values", "-n", name])
        .arg(path)
        .output()
        .expect("getfattr (apt-get install -y attr)");
    out.status.success().then_some(out.stdout)
}

pub async fn xattrs(ctx: &mut Ctx) {
    let local = ctx.local("x");
    fs::write(&local, b"").unwrap();
    let f = ctx.walk("x").await;
    // unpfs has no Txattrwalk / Txattrcreate; a file system without user
    // xattrs (tmpfs, say) makes diod answer EOPNOTSUPP too.
    if ctx.kind == Kind::Unpfs || !local_user_xattrs(ctx) {
        let e = errno("xattr_set", f.xattr_set("user.ninep", b"v", 0)).await;
        assert_eq!(e, EOPNOTSUPP);
        if ctx.kind == Kind::Unpfs {
            let e = errno("xattr_get", f.xattr_get("user.ninep")).await;
            assert_eq!(e, EOPNOTSUPP);
            assert_eq!(errno("xattr_list", f.xattr_list()).await, EOPNOTSUPP);
        }
        return;
    }
    ok("xattr_set", f.xattr_set("user.ninep", b"value-1", 0)).await;
    assert_eq!(ok("xattr_get", f.xattr_get("user.ninep")).await, b"value-1");
    assert_eq!(
        getfattr(&local, "user.ninep").as_deref(),
        Some(&b"value-1"[..])
    );

    let status = Command::new("setfattr")
        .args(["-n", "user.local", "-v", "abc"])
        .arg(&local)
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(ok("xattr_get", f.xattr_get("user.local")).await, b"abc");
    let mut names: Vec<String> = ok("xattr_list", f.xattr_list())
        .await
        .iter()
        .map(|n| n.to_str_lossy().into_owned())
        .filter(|n| n.starts_with("user."))
        .collect();
    names.sort();
    assert_eq!(names, ["user.local", "user.ninep"]);

    const XATTR_CREATE: u32 = 1;
    const XATTR_REPLACE: u32 = 2;
    ok("replace", f.xattr_set("user.ninep", b"two", XATTR_REPLACE)).await;
    assert_eq!(getfattr(&local, "user.ninep").as_deref(), Some(&b"two"[..]));
    let e = errno(
        "create existing",
        f.xattr_set("user.ninep", b"3", XATTR_CREATE),
    )
    .await;
    assert_eq!(e, EEXIST);

    ok("xattr_remove", f.xattr_remove("user.ninep")).await;
    assert_eq!(getfattr(&local, "user.ninep"), None);
    assert_eq!(
        errno("get removed", f.xattr_get("user.ninep")).await,
        ENODATA
    );
}

pub async fn locks(ctx: &mut Ctx) {
    fs::write(ctx.local("l"), b"lock me").unwrap();
    let a = ctx.open("l", O_RDWR).await;
    let b = ctx.open("l", O_RDWR).await;
    let spec = |ty, start, proc_id, client_id: &str| LockSpec {
        ty,
        start,
        length: 10,
        proc_id,
        client_id: client_id.into(),
    };
    let wr_a = spec(lock::WRLCK, 0, 1, "ninep-a");
    // A range that does not overlap a's.
    let wr_b = spec(lock::WRLCK, 100, 2, "ninep-b");
    if ctx.kind == Kind::Unpfs {
        // unpfs has no Tlock / Tgetlock.
        assert_eq!(errno("lock", a.lock(&wr_a, 0)).await, EOPNOTSUPP);
        assert_eq!(errno("getlock", b.getlock(&wr_b)).await, EOPNOTSUPP);
        return;
    }
    assert_eq!(ok("lock a", a.lock(&wr_a, 0)).await, lock::SUCCESS);
    // diod maps POSIX locks onto flock(2) of each fid's own open file:
    // whole-file locks, so b's disjoint range conflicts. Rgetlock reports
    // the conflict as WRLCK but echoes b's own range and owner, not a's.
    let g = ok("getlock b", b.getlock(&wr_b)).await;
    assert_eq!(g.ty, lock::WRLCK, "{g:?}");
    assert_eq!((g.start, g.length, g.proc_id), (100, 10, 2), "{g:?}");
    assert_eq!(g.client_id.as_bytes(), b"ninep-b");
    assert_eq!(ok("lock b", b.lock(&wr_b, 0)).await, lock::BLOCKED);
    // The same fid asking again is no conflict.
    let g = ok("getlock a", a.getlock(&wr_a)).await;
    assert_eq!(g.ty, lock::UNLCK, "{g:?}");

    let un = |s: &LockSpec| LockSpec {
        ty: lock::UNLCK,
        ..s.clone()
    };
    assert_eq!(ok("unlock a", a.lock(&un(&wr_a), 0)).await, lock::SUCCESS);
    let g = ok("getlock after unlock", b.getlock(&wr_b)).await;
    assert_eq!(g.ty, lock::UNLCK, "{g:?}");
    assert_eq!(ok("lock b", b.lock(&wr_b, 0)).await, lock::SUCCESS);
    assert_eq!(ok("unlock b", b.lock(&un(&wr_b), 0)).await, lock::SUCCESS);
}

pub async fn fsync(ctx: &mut Ctx) {
    let mut f = ctx.walk("").await;
    ok("lcreate", f.lcreate("s", O_RDWR | O_CREAT, 0o644, 0)).await;
    ok("write", f.write_at(0, b"synced", 1)).await;
    ok("fsync", f.fsync(false)).await;
    ok("fdatasync", f.fsync(true)).await;
    assert_eq!(fs::read(ctx.local("s")).unwrap(), b"synced");
}
