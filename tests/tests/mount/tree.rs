//! The tree test: 2,000 files of mixed sizes (up to 8 MiB) in
//! nested directories, with symlinks, copied in with `cp -a`, compared by
//! sha256 and mode, and taken back out with `tar`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::mount_support::{arg, sh, Mounted};
use ninep_fuse::CacheMode;

const FILES: usize = 2000;

/// A size for file `i`: mostly small, some medium, a few up to 8 MiB.
fn size_of(i: usize) -> usize {
    match i % 100 {
        0 if i.is_multiple_of(500) => 8 << 20,
        0 => (1 << 20) + i,
        1..=9 => 64 * 1024 + i * 7,
        _ => (i * 37) % 4096,
    }
}

/// Deterministic contents that differ per file and per offset.
fn contents(i: usize) -> Vec<u8> {
    let n = size_of(i);
    (0..n).map(|k| ((k * 131 + i * 17) % 251) as u8).collect()
}

fn make_tree(root: &Path) {
    for i in 0..FILES {
        let dir = root.join(format!("a{}/b{}", i % 7, i % 13));
        fs::create_dir_all(&dir).unwrap();
        let f = dir.join(format!("f{i}"));
        fs::write(&f, contents(i)).unwrap();
        let mode = [0o644, 0o600, 0o755, 0o444][i % 4];
        fs::set_permissions(&f, fs::Permissions::from_mode(mode)).unwrap();
        if i.is_multiple_of(97) {
            std::os::unix::fs::symlink(format!("f{i}"), dir.join(format!("l{i}"))).unwrap();
        }
    }
}

/// sha256 and mode of every file, and every link's target, by path.
fn manifest(root: &Path) -> String {
    let out = sh(&format!(
        "cd {} && find . -type f -exec sha256sum {{}} + | sort -k2 && \
         find . -mindepth 1 -printf '%y %m %l %P\\n' | sort",
        arg(root)
    ));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_thousand_files_in_and_out() {
    let m = Mounted::diod(CacheMode::None).await;
    let src = ninep_tests::servers::temp_dir().unwrap();
    let out = ninep_tests::servers::temp_dir().unwrap();
    let (src, out) = (src.path().to_path_buf(), out.path().to_path_buf());
    let (local, mnt) = (m.export.clone(), m.dir.clone());
    // Longer than the suite's usual step: this is the big workload.
    let work = tokio::task::spawn_blocking(move || {
        let t = std::time::Instant::now();
        make_tree(&src);
        let want = manifest(&src);
        let hashed = want.lines().filter(|l| l.len() > 64).count();
        assert!(hashed >= FILES, "{hashed} files hashed");
        sh(&format!("cp -a {} {}", arg(&src), arg(&mnt.join("tree"))));
        eprintln!("cp -a in: {:?}", t.elapsed());
        assert_eq!(manifest(&mnt.join("tree")), want, "through the mount");
        assert_eq!(manifest(&local.join("tree")), want, "on the server's disk");
        sh(&format!(
            "tar -C {} -cf - tree | tar -C {} -xf -",
            arg(&mnt),
            arg(&out)
        ));
        assert_eq!(manifest(&out.join("tree")), want, "tar back out");
        sh(&format!("rm -rf {}", arg(&mnt.join("tree"))));
        assert!(!local.join("tree").exists());
        eprintln!("all: {:?}", t.elapsed());
    });
    tokio::time::timeout(std::time::Duration::from_secs(240), work)
        .await
        .expect("the tree test did not finish within 240 s")
        .expect("the tree test failed");
    let s = m.settle_to(1, 1).await;
    assert_eq!((s.fids_in_use, s.open_handles), (1, 0), "{s:?}");
    m.unmount().await;
}
