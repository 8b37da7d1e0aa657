//! `ninep-mount -o reconnect` as a user runs it: diod is killed and
//! started again on the same port; the mount process stays, the tree and a
//! file held open across the restart work again, `ninep-mount stats`
//! counts the reconnect, and SIGTERM still unmounts cleanly. (Without
//! `-o reconnect` the mount ends with status 32: see `mount_cli.rs`.)

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde_json::Value;

#[allow(dead_code)]
mod mount_support;
use mount_support::*;

/// `ninep-mount stats MOUNTPOINT --json`, parsed.
fn stats_json(mnt: &Path) -> Value {
    let out = ninep_mount(&["stats", mnt.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "stats: {}", text(&out));
    serde_json::from_slice(&out.stdout).expect("stats --json")
}

#[test]
fn a_mount_with_reconnect_outlives_a_diod_restart() {
    let mut s = Setup::new();
    let mnt = s.mnt();
    let _guard = Guard(mnt.clone());
    let (mut child, log) = mount_foreground(&s, &["-f", "-o", "reconnect=20"]);
    let mut kept = fs::File::open(mnt.join("hello.txt")).unwrap();
    let mut first = String::new();
    kept.read_to_string(&mut first).unwrap();
    assert_eq!(stats_json(&mnt)["reconnects"], 0);

    s.diod.restart().expect("restart diod");

    // The first use after the restart may race with the redial: reads
    // wait for it, so this must simply work.
    assert_eq!(
        fs::read_to_string(mnt.join("hello.txt")).unwrap(),
        "hello from diod\n"
    );
    kept.seek(SeekFrom::Start(0)).unwrap();
    let mut again = String::new();
    kept.read_to_string(&mut again).unwrap();
    assert_eq!(again, first, "a file open across the restart");
    use_mount(&s);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the mount process ended: {}",
        fs::read_to_string(log.path()).unwrap()
    );
    assert_eq!(stats_json(&mnt)["reconnects"], 1);
    drop(kept);

    signal(&child, libc::SIGTERM);
    let status = wait_exit(&mut child);
    let logged = fs::read_to_string(log.path()).unwrap();
    assert!(status.success(), "{status}: {logged}");
    assert!(!is_mounted(&mnt));
    assert!(logged.contains("reconnected to"), "{logged}");
}
