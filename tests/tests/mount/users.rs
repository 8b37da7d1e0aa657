//! Who the server sees: `access=user` (an attach per calling uid, so the
//! server makes files with the caller's owner and checks the caller's
//! permissions) and `access=client` (one attach; new files given to the
//! caller afterwards). Also the mount's life cycle: a refused attach
//! mounts nothing, and an unmount from outside ends the session.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Command, Output};
use std::time::Duration;

use crate::mount_support::{arg, blocking, config, within, Mounted, STEP};
use ninep_client::{Client, Config};
use ninep_fuse::{Access, CacheMode};
use ninep_tests::servers::{temp_dir, Diod};

/// `nobody:nogroup`, which every Debian system has.
const NOBODY: u32 = 65534;

/// `script` run by bash as nobody:nogroup (no other groups).
fn as_nobody(script: &str) -> Output {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "bash",
            "-c",
        ])
        .arg(script)
        .output()
        .expect("setpriv")
}

/// An export whose root anyone may enter, with a sticky `pub` directory
/// anyone may write in and a `private` file only root may write.
fn shared_export(local: &std::path::Path) {
    fs::set_permissions(local, fs::Permissions::from_mode(0o755)).unwrap();
    fs::create_dir(local.join("pub")).unwrap();
    fs::set_permissions(local.join("pub"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::write(local.join("private"), b"root's").unwrap();
    fs::set_permissions(local.join("private"), fs::Permissions::from_mode(0o644)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn access_user_attaches_as_each_caller() {
    let m = Mounted::diod_with(|c| {
        c.access = Access::User;
        c.allow_other = true;
    })
    .await;
    let (local, mnt) = (m.export.clone(), m.dir.clone());
    blocking(move || {
        shared_export(&local);
        let mine = mnt.join("pub/mine");
        let out = as_nobody(&format!(
            "echo hi > {0} && mkdir {0}.d && cat {0}",
            arg(&mine)
        ));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, b"hi\n");
        for made in ["pub/mine", "pub/mine.d"] {
            let meta = fs::metadata(local.join(made)).unwrap();
            assert_eq!((meta.uid(), meta.gid()), (NOBODY, NOBODY), "{made}");
        }
        // Nobody may not write root's file (allow_other makes the kernel
        // check: diod as root leaves the checks to its clients).
        let out = as_nobody(&format!("echo x >> {}", arg(&mnt.join("private"))));
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("Permission denied"));
        let out = as_nobody(&format!("test -w {}", arg(&mnt.join("private"))));
        assert!(!out.status.success());
        let out = as_nobody(&format!("test -r {}", arg(&mnt.join("private"))));
        assert!(out.status.success());
        assert_eq!(fs::read(local.join("private")).unwrap(), b"root's");
    })
    .await;
    let s = m.stats();
    assert!(s.fids_in_use >= 2, "root's attach and nobody's: {s:?}");
    m.unmount().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn access_client_gives_new_files_to_their_creator() {
    let m = Mounted::diod_with(|c| {
        c.access = Access::Client;
        c.allow_other = true;
        c.default_permissions = true;
    })
    .await;
    let (local, mnt) = (m.export.clone(), m.dir.clone());
    blocking(move || {
        shared_export(&local);
        let f = mnt.join("pub/theirs");
        let out = as_nobody(&format!(
            "echo hi > {0} && mkdir {0}.d && ln -s x {0}.l",
            arg(&f)
        ));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        for made in ["pub/theirs", "pub/theirs.d", "pub/theirs.l"] {
            let meta = fs::symlink_metadata(local.join(made)).unwrap();
            assert_eq!((meta.uid(), meta.gid()), (NOBODY, NOBODY), "{made}");
        }
        // The kernel checks permissions (default_permissions).
        let out = as_nobody(&format!("echo x >> {}", arg(&mnt.join("private"))));
        assert!(!out.status.success());
    })
    .await;
    let s = m.stats();
    assert_eq!(s.interrupts.seen, 0);
    m.unmount().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_attach_mounts_nothing() {
    let export = temp_dir().unwrap();
    let path = export.path().to_path_buf();
    let diod = blocking(move || Diod::start(&[&path])).await.unwrap();
    let addr = diod.addr().to_string().parse().unwrap();
    let client = within(STEP, Client::connect(&addr, &Config::default()))
        .await
        .unwrap();
    let mount_point = temp_dir().unwrap();
    let cfg = config("/not/an/export", CacheMode::None);
    let e = ninep_fuse::mount(client, cfg, mount_point.path())
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("attach") && text.contains("/not/an/export"),
        "{text}"
    );
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(mount_point.path().to_str().unwrap()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unmount_from_outside_ends_the_session() {
    let mut m = Mounted::diod(CacheMode::None).await;
    let dir = m.dir.clone();
    let out = blocking(move || Command::new("umount").arg(&dir).output().unwrap()).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    within(Duration::from_secs(5), m.wait()).await.unwrap();
    assert_eq!(m.stats().open_handles, 0);
}

/// `allow_root`: the mounter and root, nobody else. The kernel knows only
/// `allow_other`, so the mount refuses the others itself (EACCES), even
/// where the mode bits would let them in.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn allow_root_keeps_other_users_out() {
    let m = Mounted::diod_with(|c| {
        c.allow_root = true;
        c.allow_other = false;
    })
    .await;
    let (local, mnt) = (m.export.clone(), m.dir.clone());
    blocking(move || {
        shared_export(&local);
        assert_eq!(fs::read(mnt.join("private")).unwrap(), b"root's", "root");
        let out = as_nobody(&format!("cat {}", arg(&mnt.join("private"))));
        assert!(!out.status.success(), "nobody read through allow_root");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Permission denied"), "{err}");
    })
    .await;
    m.unmount_clean().await;
}
