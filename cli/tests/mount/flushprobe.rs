//! `ninep-mount stats` on a live mount, and the flush probe against diod:
//! the profile a mount builds with `-o flushprobe=1` must say what
//! `ninep-mount check` says about the same server.
//!
//! Uses only the binary of this build (nothing is installed).

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ninep_tests::blockfs::{block_data, BlockFs};
use ninep_tests::servers::{temp_dir, Diod};
use serde_json::Value;

use crate::common;
use crate::mount_support::*;

/// `ninep-mount stats MOUNTPOINT --json`, parsed.
fn stats_json(mnt: &Path) -> Value {
    let out = ninep_mount(&["stats", mnt.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "stats: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)))
}

fn rule(profile: &Value, name: &str) -> u64 {
    profile["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == name)
        .and_then(|r| r["count"].as_u64())
        .unwrap_or_else(|| panic!("no rule {name}: {profile:#}"))
}

/// Mount `addr` in the foreground with `-o opts`; the process, and a guard
/// that unmounts whatever happens.
fn mount(addr: &str, mnt: &Path, opts: &str) -> (Child, Guard, tempfile::NamedTempFile) {
    let log = tempfile::NamedTempFile::new().unwrap();
    let child = Command::new(BIN)
        .args(["-f", addr, mnt.to_str().unwrap(), "-o", opts])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let guard = Guard(mnt.to_path_buf());
    let up = wait_for(BOUND, || is_mounted(mnt));
    assert!(
        up,
        "not mounted: {}",
        fs::read_to_string(log.path()).unwrap()
    );
    (child, guard, log)
}

#[test]
fn stats_reads_a_live_mount_and_goes_with_it() {
    let s = Setup::new();
    let mnt = s.mnt();
    let (mut child, _guard, log) = mount(&s.addr(), &mnt, &format!("{},flushprobe=1", s.aname()));
    use_mount(&s);
    let j = stats_json(&mnt);
    assert_eq!(j["mountpoint"], mnt.to_str().unwrap());
    assert!(j["requests"].as_u64().unwrap() > 0, "{j:#}");
    let by_type = j["requests_by_type"].as_array().unwrap();
    assert!(by_type.iter().any(|t| t[0] == "Twalk"), "{j:#}");
    assert_eq!(j["bytes_written"], "written through FUSE".len());
    assert!(j["bytes_read"].as_u64().unwrap() >= "hello from diod\n".len() as u64);
    assert!(j["fids_in_use"].as_u64().unwrap() >= 1);
    assert_eq!(j["reconnects"], 0);
    assert_eq!(j["profile"]["probe_every"], 1);
    assert!(j["profile"]["probes"].as_u64().unwrap() > 0, "{j:#}");
    // The text form says the same for people.
    let out = ninep_mount(&["stats", mnt.to_str().unwrap()]);
    let t = String::from_utf8_lossy(&out.stdout);
    for want in ["requests", "fids", "flush profile", "Rflush out of order"] {
        assert!(t.contains(want), "{want}: {t}");
    }
    // SIGUSR1 still logs, and does not end the mount.
    signal(&child, libc::SIGUSR1);
    let logged = wait_for(BOUND, || {
        fs::read_to_string(log.path()).is_ok_and(|l| l.contains("flush profile"))
    });
    assert!(logged && is_mounted(&mnt));
    signal(&child, libc::SIGTERM);
    assert!(wait_exit(&mut child).success());
    let (code, why) = failing(&["stats", mnt.to_str().unwrap()]);
    assert_eq!(code, 1, "{why}");
    assert!(why.contains("no control socket"), "{why}");
}

/// The verdict and events of `case` among `outcomes`.
fn case<'a>(outcomes: &'a [Value], name: &str) -> &'a Value {
    outcomes
        .iter()
        .find(|o| o["case"] == name)
        .unwrap_or_else(|| panic!("no case {name}"))
}

/// (Tflush sent, Rflush received) in a case's log.
fn flush_counts(o: &Value) -> (usize, usize) {
    let ev = o["events"].as_array().unwrap();
    let count = |dir: &str, msg: &str| {
        ev.iter()
            .filter(|e| e["dir"] == dir && e["msg"] == msg)
            .count()
    };
    (count("out", "Tflush"), count("in", "Rflush"))
}

/// What `check` says, as the rule counts the profile should have (> 0 or
/// not), and whether the Rflush was held.
struct Expected {
    out_of_order: bool,
    late_reply: bool,
    error_reply: bool,
    self_flush_hangs: bool,
    held: bool,
    last_only: bool,
}

fn expected(outcomes: &[Value]) -> Expected {
    let verdict = |name: &str| {
        case(outcomes, name)["verdict"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (sent, answered) = flush_counts(case(outcomes, "multiple"));
    Expected {
        out_of_order: verdict("multiple") == "fail-order",
        late_reply: ["single", "multiple", "reuse"]
            .iter()
            .any(|c| verdict(c) == "fail-late-reply"),
        error_reply: outcomes.iter().any(|o| o["verdict"] == "fail-rerror"),
        self_flush_hangs: verdict("self-flush") == "fail-hang",
        held: case(outcomes, "single")["reason"]
            .as_str()
            .unwrap()
            .contains("held"),
        last_only: answered < sent,
    }
}

#[test]
fn diod_profile_agrees_with_check() {
    let fs = BlockFs::mount_temp().expect("mount blockfs (needs root and /dev/fuse)");
    let diod = Diod::start(&[fs.path()]).expect("start diod");
    let addr = diod.addr().to_string();
    let aname = format!("aname={}", fs.path().display());
    // The mount first: check's later cases may leave diod unusable.
    fs.release_after(Some(Duration::from_millis(500)));
    let dir = temp_dir().unwrap();
    let mnt = fs::canonicalize(dir.path()).unwrap();
    let (mut child, _guard, log) = mount(&addr, &mnt, &format!("{aname},flushprobe=1"));
    let readers: Vec<_> = (0..8)
        .map(|n| {
            let path = mnt.join(format!("block{n}"));
            std::thread::spawn(move || (n, fs::read(path)))
        })
        .collect();
    for r in readers {
        let (n, got) = r.join().unwrap();
        assert_eq!(got.expect("read through the probed mount"), block_data(n));
    }
    std::thread::sleep(Duration::from_millis(700));
    let p = stats_json(&mnt)["profile"].clone();
    signal(&child, libc::SIGTERM);
    assert!(
        wait_exit(&mut child).success(),
        "{}",
        fs::read_to_string(log.path()).unwrap()
    );

    fs.release_after(Some(Duration::from_millis(1000)));
    let mut args = vec!["-o", &aname, "--victim", "block0"];
    for c in [
        "unused-tag",
        "after-completion",
        "self-flush",
        "single",
        "multiple",
        "reuse",
    ] {
        args.extend(["--case", c]);
    }
    let (outcomes, _) = common::run_check(&addr, &args);
    let want = expected(&outcomes);
    let ctx = format!("profile {p:#}\ncheck {:?}", common::verdicts(&outcomes));
    assert!(p["probes"].as_u64().unwrap() >= 8, "{ctx}");
    assert_eq!(
        rule(&p, "rflush_out_of_order") > 0,
        want.out_of_order,
        "{ctx}"
    );
    let late = rule(&p, "victim_reply_after_last_rflush") + rule(&p, "reply_on_released_tag");
    assert_eq!(late > 0, want.late_reply, "{ctx}");
    assert_eq!(
        rule(&p, "error_reply_to_tflush") > 0,
        want.error_reply,
        "{ctx}"
    );
    assert_eq!(
        rule(&p, "unanswered_self_flush") > 0,
        want.self_flush_hangs,
        "{ctx}"
    );
    assert_eq!(rule(&p, "type_mismatch_on_reused_tag"), 0, "{ctx}");
    // Holding and last-only answers show only for a victim the server
    // was already working on when the Tflush came; diod cancels a request
    // still queued at once (then the probe sends it again). So the
    // profile may see less of them than `check`, never what it denies.
    let held = p["held_until_victim"].as_u64().unwrap();
    let retried = p["probes_retried"].as_u64().unwrap();
    assert!(held == 0 || want.held, "{ctx}");
    assert!(
        p["last_only"].as_u64().unwrap() == 0 || want.last_only,
        "{ctx}"
    );
    assert!(held + retried > 0, "no blocked victim was probed: {ctx}");
    let chains: u64 = p["chains_by_length"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(
        chains,
        p["probes"].as_u64().unwrap(),
        "every chain ended: {ctx}"
    );
    println!("{ctx}");
    drop(diod);
}

#[test]
fn each_broken_rule_is_warned_about_once_and_counted() {
    use ninep_tests::scripted::{Config, FlushBehaviour, ScriptedServer};
    let mut cfg = Config::new(FlushBehaviour::OutOfOrder);
    cfg.read_timeout = Some(Duration::from_millis(40));
    let server = ScriptedServer::start_with(cfg).expect("scripted server");
    let dir = temp_dir().unwrap();
    let mnt = fs::canonicalize(dir.path()).unwrap();
    let addr = server.addr().to_string();
    let (mut child, _guard, log) = mount(&addr, &mnt, "aname=/,flushprobe=1");
    let read = |n: usize| {
        let got = fs::read(mnt.join(format!("block/{n}"))).expect("read");
        assert_eq!(got, format!("block {n}\n").as_bytes());
    };
    (0..2).for_each(read);
    std::thread::sleep(Duration::from_millis(200));
    let early = stats_json(&mnt)["profile"].clone();
    (2..8).for_each(read);
    std::thread::sleep(Duration::from_millis(500));
    let p = stats_json(&mnt)["profile"].clone();
    signal(&child, libc::SIGTERM);
    assert!(wait_exit(&mut child).success());
    let log = fs::read_to_string(log.path()).unwrap();
    for r in p["rules"].as_array().unwrap() {
        let name = r["rule"].as_str().unwrap();
        let warned = log
            .lines()
            .filter(|l| l.contains("broke a flush rule") && l.contains(name))
            .count();
        let count = r["count"].as_u64().unwrap();
        assert_eq!(warned, usize::from(count > 0), "{name}: {count}\n{log}");
    }
    // The first rule broken ends the probing (DESIGN.md rule 8): of the
    // two this server breaks in one chain, at least one is counted.
    let order =
        |p: &Value| rule(p, "victim_reply_after_last_rflush") + rule(p, "rflush_out_of_order");
    assert!(order(&early) > 0, "{early:#}");
    assert_eq!(p["probes"], early["probes"], "probing went on: {p:#}");
}
