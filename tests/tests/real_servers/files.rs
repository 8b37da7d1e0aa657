//! Cases on names and data: walk, create, read and write, directories,
//! links, unlink and remove.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;

use futures::future::join_all;
use ninep_client::wire::{getattr, Qid};
use ninep_client::Error;

use crate::common::*;

pub async fn walk(ctx: &mut Ctx) {
    let root = &ctx.root;
    fs::create_dir_all(ctx.local("a/b/c")).unwrap();
    fs::write(ctx.local("a/b/c/f"), b"x").unwrap();

    let f = ctx.walk("a/b/c/f").await;
    assert_eq!(f.qid().path, ino(&ctx.local("a/b/c/f")));
    assert!(!f.qid().is_dir());
    let c = ctx.walk("a/b/c").await;
    assert!(c.qid().is_dir());
    assert_eq!(c.qid().path, ino(&ctx.local("a/b/c")));
    let clone = ctx.walk("").await;
    assert_eq!(clone.qid().path, root.qid().path);
    // A relative walk from a non-root fid, and ".." back up.
    let back = ok("walk c/..", c.walk(&[".."])).await;
    assert_eq!(back.qid().path, ino(&ctx.local("a/b")));
    // walk(5): ".." of the root is the root. Neither server does that: both
    // walk out of the export to its parent directory (diod appends ".." to
    // the path, unpfs pushes it onto a PathBuf). Whoever builds paths on
    // this client must not send ".." from the root.
    let up = ok("walk root/..", root.walk(&[".."])).await;
    assert_eq!(up.qid().path, ino(&ctx.dir.join("..")));
    assert_ne!(up.qid().path, root.qid().path);

    // Missing first name: the server's Rlerror. Missing later name: a
    // partial Rwalk, which the client turns into ENOENT.
    for path in [&["nope"][..], &["a", "nope"], &["a", "b", "c", "nope"]] {
        let e = errno(&format!("walk {path:?}"), root.walk(path)).await;
        assert_eq!(e, ENOENT, "{path:?}");
    }
    // Through a regular file: both servers answer with the partial walk
    // (up to the file), not ENOTDIR.
    let e = errno("walk through a file", root.walk(&["a", "b", "c", "f", "x"])).await;
    assert_eq!(e, ENOENT);
    settle(&ctx.client, 6).await;

    // 40 nested directories made over 9P, then walked in one call: three
    // Twalks (16 + 16 + 8 names) and a Tclunk for each intermediate fid.
    let names: Vec<String> = (0..40).map(|i| format!("d{i:02}")).collect();
    let mut dir = ctx.walk("").await;
    for n in &names {
        let q = ok("mkdir", dir.mkdir(n, 0o755, 0)).await;
        dir = ok("walk into new dir", dir.walk(&[n])).await;
        assert_eq!(dir.qid().path, q.path);
    }
    let before = ctx.client.stats().requests;
    let deep = ok("walk 40 names", root.walk(&names)).await;
    assert_eq!(ctx.client.stats().requests - before, 3 + 2);
    assert_eq!(deep.qid().path, dir.qid().path);
    let local = ctx.local(&names.join("/"));
    assert_eq!(deep.qid().path, ino(&local));
    let mut too_far = names.clone();
    too_far.insert(20, "missing".into());
    assert_eq!(
        errno("walk deep, missing", root.walk(&too_far)).await,
        ENOENT
    );
}

pub async fn create_write_read(ctx: &mut Ctx) {
    let max = ctx.client.max_io() as usize;
    for (name, len) in [("one", 1), ("full", max), ("three", 3 * max)] {
        let mut f = ctx.walk("").await;
        let flags = O_RDWR | O_CREAT | O_EXCL;
        let qid = ok("lcreate", f.lcreate(name, flags, 0o644, 0)).await;
        let local = ctx.local(name);
        assert_eq!(qid.path, ino(&local));
        assert_eq!(f.qid(), qid);
        assert_eq!(f.io_size() as usize, max, "iounit from Rlcreate");
        assert_eq!(meta(&local).mode() & 0o777, 0o644);

        let data = pattern(len as u64, len);
        let before = ctx.client.stats().requests;
        ok("write_at", f.write_at(0, &data, 4)).await;
        let msgs = ctx.client.stats().requests - before;
        assert_eq!(msgs, len.div_ceil(max) as u64, "{name}: Twrites sent");
        ctx.written(&f).await;
        assert_eq!(fs::read(&local).unwrap(), data, "{name} on disk");

        let back = ok("read_at", f.read_at(0, len as u64 + 100, 4)).await;
        assert_eq!(back, data, "{name} read back");
        // One Tread carries at most msize - 24: the full case in one go.
        let first = ok("read", f.read(0, u32::MAX)).await;
        assert_eq!(first.len(), len.min(max));
        assert_eq!(&first[..], &data[..first.len()]);
        let past = ok("read past end", f.read(len as u64, 10)).await;
        assert!(past.is_empty());
    }
    let f = ctx.open("full", O_RDWR).await;
    let e = err("oversized write", f.write(0, vec![0; max + 1].into())).await;
    assert!(matches!(e, Error::Invalid(_)), "{e:?}");
    let mut again = ctx.walk("").await;
    let flags = O_RDWR | O_CREAT | O_EXCL;
    let create = again.lcreate("one", flags, 0o644, 0);
    match ctx.kind {
        Kind::Diod => assert_eq!(errno("exclusive create", create).await, EEXIST),
        // unpfs passes only O_ACCMODE|O_CREAT|O_TRUNC to open(2): O_EXCL is
        // dropped and the existing file is opened, untouched.
        Kind::Unpfs => {
            ok("exclusive create", create).await;
            assert_eq!(fs::read(ctx.local("one")).unwrap(), pattern(1, 1));
        }
    }
}

pub async fn big_file_checksum(ctx: &mut Ctx) {
    const LEN: usize = 64 << 20;
    let data = pattern(64, LEN);
    let want = digest(&data);
    let mut f = ctx.walk("").await;
    ok("lcreate", f.lcreate("big", O_RDWR | O_CREAT, 0o600, 0)).await;
    ok_within(LONG_STEP, "write 64 MiB", f.write_at(0, &data, 16)).await;
    ctx.written(&f).await;
    drop(data);
    let local = fs::read(ctx.local("big")).unwrap();
    assert_eq!(local.len(), LEN);
    assert_eq!(digest(&local), want, "on disk");
    drop(local);
    let back = ok_within(LONG_STEP, "read 64 MiB", f.read_at(0, LEN as u64, 16)).await;
    assert_eq!(back.len(), LEN);
    assert_eq!(digest(&back), want, "read back");
    let attr = ok("getattr", f.getattr(getattr::SIZE)).await;
    assert_eq!(attr.size, LEN as u64);
}

pub async fn readdir_10k(ctx: &mut Ctx) {
    const N: usize = 10_000;
    const DT_DIR: u8 = 4;
    const DT_REG: u8 = 8;
    let big = ctx.local("big");
    fs::create_dir(&big).unwrap();
    for i in 0..N {
        fs::File::create(big.join(format!("entry-{i:05}"))).unwrap();
    }
    let d = ctx.open("big", O_RDONLY | O_DIRECTORY).await;
    let entries = ok_within(LONG_STEP, "readdir_all", d.readdir_all()).await;

    let mut seen: HashMap<String, usize> = HashMap::new();
    for e in &entries {
        *seen.entry(e.name.to_str_lossy().into_owned()).or_default() += 1;
    }
    for i in 0..N {
        let name = format!("entry-{i:05}");
        assert_eq!(seen.get(&name), Some(&1), "{name}");
    }
    // Both servers list "." and ".." once each, as readdir(3) does.
    assert_eq!(seen.get("."), Some(&1));
    assert_eq!(seen.get(".."), Some(&1));
    assert_eq!(entries.len(), N + 2, "nothing else");
    let offsets: HashSet<u64> = entries.iter().map(|e| e.offset).collect();
    assert_eq!(offsets.len(), entries.len(), "offsets are distinct cookies");
    // Again in small batches (unpfs fits all 10,002 in one 1 MiB reply):
    // resuming at each batch's last offset yields the same listing.
    let mut small = Vec::new();
    let mut offset = 0;
    loop {
        let batch = ok("readdir 4 KiB", d.readdir(offset, 4096)).await;
        let Some(last) = batch.last() else { break };
        assert!(batch.len() < 200, "{} entries in 4 KiB", batch.len());
        offset = last.offset;
        small.extend(batch);
    }
    assert_eq!(small, entries);

    // What "." and ".." (and the types) should be; unpfs differs, below.
    let (mut dot, mut dotdot) = (ino(&big), ino(&ctx.dir));
    let (dir_type, file_type) = match ctx.kind {
        Kind::Diod => (DT_DIR, DT_REG),
        // unpfs sends DT_UNKNOWN (0) for every entry, and stats "." and ".."
        // relative to its own working directory (ours, inherited), not to
        // the directory being read.
        Kind::Unpfs => {
            let cwd = std::env::current_dir().unwrap();
            (dot, dotdot) = (ino(&cwd), ino(&cwd.join("..")));
            (0, 0)
        }
    };
    for e in &entries {
        let name = e.name.to_str_lossy();
        let want_ino = match &*name {
            "." => dot,
            ".." => dotdot,
            _ => {
                assert_eq!(e.ty, file_type, "{name}");
                assert!(!e.qid.is_dir(), "{name}");
                if name.ends_with("00") {
                    assert_eq!(e.qid.path, ino(&big.join(&*name)), "{name}");
                }
                continue;
            }
        };
        assert_eq!((e.ty, e.qid.path), (dir_type, want_ino), "{name}");
        assert!(e.qid.is_dir(), "{name}");
    }
}

pub async fn mkdir_and_rename(ctx: &mut Ctx) {
    let root = &ctx.root;
    let q = ok("mkdir", root.mkdir("d", 0o750, 0)).await;
    assert!(q.is_dir());
    let m = meta(&ctx.local("d"));
    assert!(m.is_dir());
    let mode = match ctx.kind {
        Kind::Diod => 0o750,
        // unpfs ignores the mode: mkdir(2) with 0777 under its umask.
        Kind::Unpfs => 0o777 & !umask(),
    };
    assert_eq!(m.mode() & 0o777, mode);
    assert_eq!(q.path, m.ino());
    assert_eq!(
        errno("mkdir again", root.mkdir("d", 0o750, 0)).await,
        EEXIST
    );

    fs::write(ctx.local("f1"), b"hello").unwrap();
    let d = ctx.walk("d").await;
    let e = errno("renameat missing", root.renameat("f9", &d, "f2")).await;
    let renameat = root.renameat("f1", &d, "f2");
    let at = match ctx.kind {
        // diod 1.0.24 has no Trenameat (nor Tunlinkat): Linux falls back
        // to Trename.
        Kind::Diod => {
            assert_eq!(e, EOPNOTSUPP);
            assert_eq!(errno("renameat", renameat).await, EOPNOTSUPP);
            assert!(ctx.local("f1").exists());
            "f1"
        }
        Kind::Unpfs => {
            assert_eq!(e, ENOENT);
            ok("renameat", renameat).await;
            assert!(!ctx.local("f1").exists());
            "d/f2"
        }
    };
    assert_eq!(fs::read(ctx.local(at)).unwrap(), b"hello");

    // Trename moves the file a fid names; the fid still names it after.
    let f = ctx.walk(at).await;
    match ctx.kind {
        Kind::Diod => {
            ok("rename", f.rename(&d, "f3")).await;
            assert!(!ctx.local(at).exists());
            assert_eq!(fs::read(ctx.local("d/f3")).unwrap(), b"hello");
            let attr = ok("getattr after rename", f.getattr(getattr::BASIC)).await;
            assert_eq!(attr.size, 5);
            assert_eq!(attr.qid.path, ino(&ctx.local("d/f3")));
        }
        // unpfs has no Trename.
        Kind::Unpfs => {
            assert_eq!(errno("rename", f.rename(root, "f3")).await, EOPNOTSUPP);
            assert!(ctx.local(at).exists());
        }
    }
}

pub async fn symlink_and_readlink(ctx: &mut Ctx) {
    std::os::unix::fs::symlink("/abs/elsewhere", ctx.local("ln2")).unwrap();
    let l2 = ctx.walk("ln2").await;
    assert_ne!(l2.qid().ty & Qid::QTSYMLINK, 0, "{:?}", l2.qid());
    assert_eq!(l2.qid().path, ino(&ctx.local("ln2")));
    assert_eq!(
        ok("readlink", l2.readlink()).await.as_bytes(),
        b"/abs/elsewhere"
    );
    let attr = ok("getattr", l2.getattr(getattr::MODE)).await;
    assert_eq!(attr.mode & 0o170000, 0o120000, "S_IFLNK");

    let symlink = ctx.root.symlink("ln", "some/target", 0);
    if ctx.kind == Kind::Unpfs {
        // unpfs has no Tsymlink.
        assert_eq!(errno("symlink", symlink).await, EOPNOTSUPP);
        assert!(fs::symlink_metadata(ctx.local("ln")).is_err());
        return;
    }
    let q = ok("symlink", symlink).await;
    assert_ne!(q.ty & Qid::QTSYMLINK, 0, "{q:?}");
    let local = ctx.local("ln");
    assert!(meta(&local).file_type().is_symlink());
    assert_eq!(fs::read_link(&local).unwrap().to_str(), Some("some/target"));
    let l = ctx.walk("ln").await;
    assert_eq!(l.qid().path, q.path);
    assert_eq!(
        ok("readlink", l.readlink()).await.as_bytes(),
        b"some/target"
    );
    let e = errno("symlink exists", ctx.root.symlink("ln", "x", 0)).await;
    assert_eq!(e, EEXIST);
}

pub async fn hard_link(ctx: &mut Ctx) {
    fs::write(ctx.local("orig"), b"data").unwrap();
    let f = ctx.walk("orig").await;
    assert_eq!(ok("getattr", f.getattr(getattr::NLINK)).await.nlink, 1);
    let link = ctx.root.link(&f, "hard");
    if ctx.kind == Kind::Unpfs {
        // unpfs has no Tlink.
        assert_eq!(errno("link", link).await, EOPNOTSUPP);
        assert_eq!(ok("getattr", f.getattr(getattr::NLINK)).await.nlink, 1);
        assert!(!ctx.local("hard").exists());
        return;
    }
    ok("link", link).await;
    assert_eq!(ok("getattr", f.getattr(getattr::NLINK)).await.nlink, 2);
    let (a, b) = (meta(&ctx.local("orig")), meta(&ctx.local("hard")));
    assert_eq!((a.nlink(), a.ino()), (2, b.ino()));
    let h = ctx.walk("hard").await;
    assert_eq!(h.qid().path, f.qid().path);
    let e = errno("link exists", ctx.root.link(&f, "hard")).await;
    assert_eq!(e, EEXIST);
}

pub async fn unlinkat(ctx: &mut Ctx) {
    let root = &ctx.root;
    fs::write(ctx.local("u"), b"").unwrap();
    fs::write(ctx.local("plain"), b"").unwrap();
    fs::create_dir(ctx.local("ud")).unwrap();
    fs::create_dir(ctx.local("ud2")).unwrap();
    fs::create_dir_all(ctx.local("full/sub")).unwrap();

    if ctx.kind == Kind::Diod {
        // diod 1.0.24 has no Tunlinkat: Linux falls back to walk + Tremove.
        assert_eq!(errno("unlinkat", root.unlinkat("u", 0)).await, EOPNOTSUPP);
        let e = errno("unlinkat dir", root.unlinkat("ud", AT_REMOVEDIR)).await;
        assert_eq!(e, EOPNOTSUPP);
        assert!(ctx.local("u").exists() && ctx.local("ud").exists());
        return;
    }
    ok("unlink file", root.unlinkat("u", 0)).await;
    assert!(!ctx.local("u").exists());
    ok("rmdir", root.unlinkat("ud", AT_REMOVEDIR)).await;
    assert!(!ctx.local("ud").exists());
    let e = errno("rmdir non-empty", root.unlinkat("full", AT_REMOVEDIR)).await;
    assert_eq!(e, ENOTEMPTY);
    assert!(ctx.local("full/sub").is_dir());
    assert_eq!(errno("unlink missing", root.unlinkat("u", 0)).await, ENOENT);
    // unpfs ignores the flags: it rmdirs a directory and unlinks anything
    // else, where unlinkat(2) would fail with EISDIR and ENOTDIR.
    ok("unlink a dir without AT_REMOVEDIR", root.unlinkat("ud2", 0)).await;
    assert!(!ctx.local("ud2").exists());
    ok("rmdir a file", root.unlinkat("plain", AT_REMOVEDIR)).await;
    assert!(!ctx.local("plain").exists());
}

pub async fn remove_and_clunk(ctx: &mut Ctx) {
    let c = &ctx.client;
    fs::write(ctx.local("r"), b"").unwrap();
    fs::create_dir_all(ctx.local("full/sub")).unwrap();

    // Tremove frees the fid whatever the answer, as soon as it comes.
    let f = ctx.walk("r").await;
    assert_eq!(c.stats().fids_in_use, 2);
    let d = ctx.walk("full").await;
    match ctx.kind {
        Kind::Diod => {
            ok("remove", f.remove()).await;
            assert!(!ctx.local("r").exists());
            assert_eq!(errno("remove non-empty", d.remove()).await, ENOTEMPTY);
        }
        // unpfs has no Tremove. (Its fid table keeps the fid after the
        // error, against remove(5); harmless, as it lets a later Twalk
        // rebind the number.)
        Kind::Unpfs => {
            assert_eq!(errno("remove", f.remove()).await, EOPNOTSUPP);
            assert!(ctx.local("r").exists());
            assert_eq!(errno("remove dir", d.remove()).await, EOPNOTSUPP);
        }
    }
    assert_eq!(c.stats().fids_in_use, 1);
    assert!(ctx.local("full").is_dir());
    // The freed numbers are reused at once and work.
    let again = ctx.walk("full/sub").await;
    assert!(again.qid().is_dir());

    ok("clunk", again.clunk()).await;
    assert_eq!(c.stats().fids_in_use, 1);
    assert!(ctx.local("full/sub").is_dir(), "clunk removes nothing");

    // Drop clunks without waiting.
    let walks = join_all((0..10).map(|_| ctx.root.walk(&["full"])));
    let handles = ok("10 walks", async { walks.await.into_iter().collect() }).await;
    let handles: Vec<_> = handles;
    assert_eq!(c.stats().fids_in_use, 11);
    drop(handles);
    settle(c, 1).await;
}
