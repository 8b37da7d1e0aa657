//! `flushprobe=1` through a real mount of the scripted server, in each of
//! its Tflush behaviours: a workload of ordinary system calls (list the
//! tree, read every file, some of which block on the server for a while,
//! overwrite `/hello` and read it back) gets every byte right and sees no
//! error, and the mount's flush profile shows exactly the rules the
//! behaviour breaks. Nothing leaks: the fids and inodes come back to the
//! root's alone.
//!
//! `leak-N` is left out: once it goes mute the server answers nothing at
//! all, so no workload can finish on it, probe or not.

use std::time::Duration;

use crate::mount_support::*;
use ninep_client::{Config, FlushPolicy};
use ninep_client::{FlushProfile, Rule};
use ninep_fuse::CacheMode;
use ninep_tests::scripted::{Config as ServerConfig, FlushBehaviour as B, ScriptedServer, HELLO};

/// How long a read of `/block/N` waits on the server.
const READ_TIME: Duration = Duration::from_millis(60);
/// Bound on the wait for the profile to come to rest after the workload.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);
/// Blocked reads by `cat` (two Treads each: data, then end of file): each
/// probed with 1-3 Tflush at random, so the chance that no chain has two
/// is 3^-16.
const BLOCK_CATS: usize = 8;

/// How long an Rflush may take before it counts as unanswered, against
/// `b`. Servers that answer every Tflush do so at once (`last-only` after
/// 50 ms of quiet), but a loaded machine can stall one for a few hundred
/// milliseconds: 2 s, so that only a Tflush really left unanswered
/// counts. Servers that leave some unanswered must be caught early in the
/// workload (the probe stops there), and `hold`'s victims, answered
/// [`READ_TIME`] after their Tflush, count as held only past a quarter of
/// the timeout: 150 ms. (`hold` queues each Rflush right behind its
/// victim's reply: both go out together.)
fn flush_timeout(b: B) -> Duration {
    match b {
        B::Correct | B::LastOnly | B::OutOfOrder | B::Rlerror => Duration::from_secs(2),
        B::Hold | B::Never | B::NoSelfFlush | B::FirstOnly | B::LeakAfter(_) => {
            Duration::from_millis(150)
        }
    }
}

fn probing(b: B) -> Config {
    Config {
        flush: FlushPolicy {
            timeout: flush_timeout(b),
            max_flushes: 3,
        },
        flush_probe: 1,
        ..Config::default()
    }
}

/// List, read, write and read back; panics on any error or wrong byte.
fn workload(dir: &std::path::Path) {
    for round in 0..BLOCK_CATS {
        let n = round % 8;
        let got = std::fs::read(dir.join(format!("block/{n}"))).expect("read a block file");
        assert_eq!(got, format!("block {n}\n").as_bytes());
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("readdir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["block", "hello", "release"]);
        assert_eq!(std::fs::read(dir.join("hello")).expect("read hello"), HELLO);
        let meta = std::fs::metadata(dir.join("hello")).expect("stat hello");
        assert_eq!(meta.len(), HELLO.len() as u64);
    }
    // Same length, no truncation: the scripted server has no Tsetattr.
    let upper = HELLO.to_ascii_uppercase();
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.join("hello"))
            .expect("open hello for writing");
        f.write_all(&upper).expect("write hello");
    }
    assert_eq!(std::fs::read(dir.join("hello")).expect("read back"), upper);
    let out = sh(&format!("ls -lR {} | wc -l", arg(dir)));
    assert!(!out.stdout.is_empty());
}

/// Mount the scripted server with `b`, run the workload, and check the
/// profile shows exactly `broken`.
async fn probe_mount(b: B, broken: &[Rule]) -> FlushProfile {
    probe_mount_some(b, broken, &[]).await
}

/// As [`probe_mount`], where the rules of `some` may or may not show: the
/// probe stops at the first rule a server breaks.
async fn probe_mount_some(b: B, broken: &[Rule], some: &[Rule]) -> FlushProfile {
    let mut cfg = ServerConfig::new(b);
    cfg.read_timeout = Some(READ_TIME);
    // Declared before the mount, so dropped after it.
    let server = ScriptedServer::start_with(cfg).expect("scripted server");
    let m = Mounted::mount_at(
        server.addr().to_string(),
        config("/", CacheMode::None),
        probing(b),
    )
    .await;
    let dir = m.dir.clone();
    blocking(move || workload(&dir)).await;
    let tags_kept =
        broken.contains(&Rule::UnansweredFlush) || broken.contains(&Rule::UnansweredSelfFlush);
    // Late replies, held Rflushes and flush timeouts: waited for until
    // they show (the checks below say what did not), not for a time.
    let deadline = std::time::Instant::now() + SETTLE_LIMIT;
    while !settled(&m, broken, tags_kept) && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let p = m.flush_profile();
    for (rule, n) in p.violation_counts() {
        if some.contains(&rule) {
            continue;
        }
        assert_eq!(
            n > 0,
            broken.contains(&rule),
            "{b}: {rule} counted {n} times\n{p:#?}"
        );
    }
    assert!(p.probes > 0, "{b}: nothing probed");
    let held = m.stats().quarantined_tags > 0;
    assert_eq!(held, tags_kept, "{b}: {:?}", m.stats());
    m.unmount_clean().await;
    p
}

/// Whether what the workload started has come to rest: nothing in
/// flight, each rule of `broken` counted, and either tags held
/// (`tags_kept`) or none, with every probe's chain ended.
fn settled(m: &Mounted, broken: &[Rule], tags_kept: bool) -> bool {
    let (s, p) = (m.stats(), m.flush_profile());
    let chains: u64 = p.chains_by_length.iter().sum();
    let rest = match tags_kept {
        true => s.quarantined_tags > 0,
        false => s.quarantined_tags == 0 && chains == p.probes,
    };
    let quiet = s.requests_in_service == 0 && s.client.in_flight == 0;
    quiet && broken.iter().all(|&r| p.violations(r) > 0) && rest
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn correct() {
    let p = probe_mount(B::Correct, &[]).await;
    assert!(p.probes_retried >= BLOCK_CATS as u64, "{p:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hold() {
    let p = probe_mount(B::Hold, &[]).await;
    assert!(p.held_until_victim >= BLOCK_CATS as u64, "{p:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn last_only() {
    let p = probe_mount(B::LastOnly, &[]).await;
    assert!(p.last_only > 0, "{p:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn out_of_order() {
    let order = [Rule::RflushOutOfOrder, Rule::VictimReplyAfterLastRflush];
    let p = probe_mount_some(B::OutOfOrder, &[], &order).await;
    assert!(order.iter().any(|&r| p.violations(r) > 0), "{p:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rlerror() {
    probe_mount(B::Rlerror, &[Rule::ErrorReplyToTflush]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn never() {
    // A self-flush goes out now and then: the probe may stop before one.
    probe_mount_some(
        B::Never,
        &[Rule::UnansweredFlush],
        &[Rule::UnansweredSelfFlush],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_self_flush() {
    probe_mount(B::NoSelfFlush, &[Rule::UnansweredSelfFlush]).await;
}
