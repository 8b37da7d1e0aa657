//! `ninep-mount check` against real servers exporting a file system whose
//! reads block like a slow device (blockfs, or the victimfs a server
//! author would use): on diod every case runs (none skipped), each verdict
//! agrees with the message log printed beside it, and diod's table is
//! pinned; unpfs's table (Rlerror to every Tflush) is pinned too.

use std::time::Duration;

use ninep_tests::blockfs::BlockFs;
use ninep_tests::servers::Diod;

use crate::common;

#[test]
fn diod_verdicts_agree_with_their_logs() {
    let fs = BlockFs::mount_temp().expect("mount blockfs (needs root and /dev/fuse)");
    // Reads finish by themselves after 1 s, inside the check's 1.5 s bound:
    // diod holds an Rflush until its read returns.
    fs.release_after(Some(Duration::from_millis(1000)));
    let diod = Diod::start(&[fs.path()]).expect("start diod");
    let aname = format!("aname={}", fs.path().display());
    let (outcomes, _code) = common::run_check(
        &diod.addr().to_string(),
        &["-o", &aname, "--victim", "block0"],
    );
    assert_eq!(outcomes.len(), 11);
    let mut table = String::new();
    for o in &outcomes {
        common::agrees_with_log(o);
        let (case, verdict) = (o["case"].as_str().unwrap(), o["verdict"].as_str().unwrap());
        assert_ne!(verdict, "skipped", "{case}: {}", o["reason"]);
        table += &format!(
            "{case:<17} {verdict:<15} {}\n",
            o["reason"].as_str().unwrap()
        );
    }
    println!("diod 1.0.24 over blockfs:\n{table}");
    drop(diod);
}

/// A server author's three commands, here: `ninep-mount victimfs DIR`,
/// diod exporting DIR, `ninep-mount check ... --victim block0`. The check
/// finds the victimfs on this machine and releases its reads itself, so
/// every case settles: none skipped, none a hang, none inconclusive for a
/// read that never ended; the cases without a victim pass; diod, which
/// holds its Rflush until the read ends, is pass-minimal or worse where
/// it holds or reorders; and diod is alive afterwards.
#[test]
fn with_victimfs_every_case_settles_and_diod_lives() {
    let dir = ninep_tests::servers::temp_dir().unwrap();
    let mnt = std::fs::canonicalize(dir.path()).unwrap();
    let victimfs = start_victimfs(&mnt);
    let diod = Diod::start(&[&mnt]).expect("start diod");
    let aname = format!("aname={}", mnt.display());
    let (outcomes, _code) = common::run_check(
        &diod.addr().to_string(),
        &["-o", &aname, "--victim", "block0"],
    );
    let verdicts = common::verdicts(&outcomes);
    for o in &outcomes {
        common::agrees_with_log(o);
        let (case, verdict) = (o["case"].as_str().unwrap(), o["verdict"].as_str().unwrap());
        let reason = o["reason"].as_str().unwrap();
        assert!(
            !matches!(verdict, "skipped" | "fail-hang"),
            "{case}: {verdict}: {reason}\n{verdicts:?}"
        );
        assert!(!reason.contains("never ended"), "{case}: {reason}");
    }
    // diod 1.0.24's table, as docs/flush.md shows it: it holds the Rflush
    // of a read it is working on until the read ends (pass-minimal),
    // cancels a read still queued at once, answers a flush-of-flush before
    // the flush it names; `independent` and `unconfirmed` never get their
    // set-up, since the victimfs releases every waiting read at once.
    let want = [
        ("unused-tag", "pass"),
        ("after-completion", "pass"),
        ("self-flush", "pass"),
        ("single", "pass-minimal"),
        ("multiple", "pass-minimal"),
        ("reuse", "pass"),
        ("flush-of-flush", "fail-order"),
        ("independent", "inconclusive"),
        ("unconfirmed", "inconclusive"),
        ("storm", "pass"),
        ("queued", "pass"),
    ];
    for (case, verdict) in want {
        assert_eq!(verdicts[case], verdict, "{case}: {verdicts:?}");
    }
    // diod still serves a new connection.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ninep-mount"))
        .args(["ls", &diod.addr().to_string(), "-o", &aname])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "diod died: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("block0"));
    drop(diod);
    stop_victimfs(victimfs);
    assert!(!ninep_tests::blockfs::is_mounted(&mnt));
}

/// unpfs 0.13 answers every Tflush with Rlerror (EOPNOTSUPP): `check`
/// says `fail-rerror` for every case, as docs/flush.md reports, and names
/// the errno. Its victim is a victimfs, as a server author would set it
/// up; the reads it blocks are released by the check.
#[test]
fn unpfs_fails_every_case_with_rlerror() {
    let dir = ninep_tests::servers::temp_dir().unwrap();
    let mnt = std::fs::canonicalize(dir.path()).unwrap();
    let victimfs = start_victimfs(&mnt);
    let unpfs = ninep_tests::servers::Unpfs::start(&mnt).expect("start unpfs");
    let (outcomes, _code) = common::run_check(&unpfs.addr().to_string(), &["--victim", "block0"]);
    let verdicts = common::verdicts(&outcomes);
    assert_eq!(verdicts.len(), 11, "{verdicts:?}");
    for o in &outcomes {
        let (case, verdict) = (o["case"].as_str().unwrap(), o["verdict"].as_str().unwrap());
        let reason = o["reason"].as_str().unwrap();
        assert_eq!(verdict, "fail-rerror", "{case}: {reason}");
        assert!(reason.contains("errno 95"), "{case}: {reason}");
    }
    drop(unpfs);
    stop_victimfs(victimfs);
}

/// `ninep-mount victimfs MNT`, once it is mounted.
fn start_victimfs(mnt: &std::path::Path) -> std::process::Child {
    use std::process::{Command, Stdio};
    let victimfs = Command::new(env!("CARGO_BIN_EXE_ninep-mount"))
        .arg("victimfs")
        .arg(mnt)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !ninep_tests::blockfs::is_mounted(mnt) {
        assert!(
            std::time::Instant::now() < deadline,
            "victimfs did not mount"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    victimfs
}

/// Stop a victimfs with SIGTERM, as a person would: it unmounts and exits 0.
fn stop_victimfs(mut victimfs: std::process::Child) {
    // SAFETY: kill(2) of a victimfs this test started, not yet reaped.
    unsafe { libc::kill(victimfs.id() as i32, libc::SIGTERM) };
    let status = victimfs.wait().unwrap();
    assert!(status.success(), "victimfs: {status}");
}
