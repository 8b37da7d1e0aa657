//! The flush probe (`Config::flush_probe`) against the scripted server in
//! each of its Tflush behaviours, through the client library (no mount):
//! a workload of walks, reads (of `/block/N` files that block for a while,
//! so the Tflush find their victim in flight), getattrs and readdirs gets
//! every reply right, and the connection's flush profile shows exactly
//! the rules the behaviour breaks.

use std::time::{Duration, Instant};

use ninep_client::Rule;
use ninep_client::{Address, Client, Config, FlushPolicy};
use ninep_tests::scripted::{Config as ServerConfig, FlushBehaviour as B, ScriptedServer, HELLO};

/// How long a blocked read waits before answering on its own.
const READ_TIME: Duration = Duration::from_millis(60);
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
/// Blocked reads in the workload: each is probed with 1-3 Tflush at
/// random, so the chance that none gets two is 3^-12.
const BLOCKED_READS: usize = 12;
/// Bound on the whole workload.
const LIMIT: Duration = Duration::from_secs(30);

fn server(b: B) -> ScriptedServer {
    let mut cfg = ServerConfig::new(b);
    cfg.read_timeout = Some(READ_TIME);
    ScriptedServer::start_with(cfg).expect("scripted server")
}

async fn probed_client(server: &ScriptedServer, b: B) -> Client {
    let cfg = Config {
        flush: FlushPolicy {
            timeout: flush_timeout(b),
            max_flushes: 3,
        },
        flush_probe: 1,
        ..Config::default()
    };
    let addr: Address = server.addr().to_string().parse().unwrap();
    Client::connect(&addr, &cfg).await.expect("connect")
}

/// Walk, open, read and stat the tree; every answer must be right.
async fn workload(client: &Client) {
    let root = client.attach("root", "/", 0).await.expect("attach");
    for i in 0..BLOCKED_READS {
        let n = i % 4;
        let mut f = root.walk(&["block", &n.to_string()]).await.expect("walk");
        f.getattr(ninep_client::wire::getattr::BASIC)
            .await
            .expect("getattr");
        f.lopen(libc::O_RDONLY as u32).await.expect("lopen");
        let got = f.read(0, 100).await.expect("read");
        assert_eq!(&got[..], format!("block {n}\n").as_bytes());
    }
    for _ in 0..8 {
        let mut f = root.walk(&["hello"]).await.expect("walk hello");
        f.lopen(libc::O_RDONLY as u32).await.expect("lopen hello");
        assert_eq!(f.read_at(0, 100, 2).await.expect("read hello"), HELLO);
        let mut d = root.walk::<&str>(&[]).await.expect("clone root");
        d.lopen(libc::O_RDONLY as u32).await.expect("open root");
        let names: Vec<String> = d
            .readdir_all()
            .await
            .expect("readdir")
            .iter()
            .map(|e| e.name.to_str_lossy().into_owned())
            .collect();
        for want in ["hello", "block"] {
            assert!(names.iter().any(|n| n == want), "{names:?}");
        }
    }
}

/// Run the workload against behaviour `b` and check the profile shows
/// exactly `broken` (and that nothing leaked).
async fn probe_against(b: B, broken: &[Rule]) -> ninep_client::FlushProfile {
    probe_against_some(b, broken, &[]).await
}

/// As [`probe_against`], where the rules of `some` may or may not show:
/// the probe stops at the first rule a server breaks, so of two rules one
/// chain breaks, only the first may be counted.
async fn probe_against_some(b: B, broken: &[Rule], some: &[Rule]) -> ninep_client::FlushProfile {
    let server = server(b);
    let client = probed_client(&server, b).await;
    tokio::time::timeout(LIMIT, workload(&client))
        .await
        .expect("workload finished in time");
    let tags_held =
        broken.contains(&Rule::UnansweredFlush) || broken.contains(&Rule::UnansweredSelfFlush);
    // Late replies, held Rflushes and flush timeouts: waited for until
    // they show (the checks below say what did not), not for a time.
    let deadline = Instant::now() + LIMIT;
    while !settled(&client, broken, tags_held) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let p = client.flush_profile();
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
    let s = client.stats();
    assert_eq!(s.fids_in_use, 0, "{b}: fids leaked: {s:?}");
    assert_eq!(s.in_flight, 0, "{b}: {s:?}");
    assert_eq!(s.quarantined > 0, tags_held, "{b}: {s:?}");
    if !tags_held {
        let chains: u64 = p.chains_by_length.iter().sum();
        assert_eq!(chains, p.probes, "{b}: every probe's chain ended: {p:?}");
    }
    p
}

/// Whether what the workload started has come to rest: nothing in
/// flight, every fid back, each rule of `broken` counted, and either tags
/// held (`tags_held`) or none, with every probe's chain ended.
fn settled(client: &Client, broken: &[Rule], tags_held: bool) -> bool {
    let (s, p) = (client.stats(), client.flush_profile());
    let chains: u64 = p.chains_by_length.iter().sum();
    let rest = match tags_held {
        true => s.quarantined > 0,
        false => s.quarantined == 0 && chains == p.probes,
    };
    s.in_flight == 0 && s.fids_in_use == 0 && broken.iter().all(|&r| p.violations(r) > 0) && rest
}

#[tokio::test]
async fn correct_breaks_nothing_and_cancelled_probes_are_sent_again() {
    let p = probe_against(B::Correct, &[]).await;
    assert!(p.probes >= BLOCKED_READS as u64, "{p:?}");
    assert!(p.probes_retried >= BLOCKED_READS as u64, "{p:?}");
    assert!(p.rflush_latency.count() > 0);
    assert_eq!(p.held_until_victim, 0, "{p:?}");
}

#[tokio::test]
async fn hold_breaks_nothing_and_holds_rflush_until_the_victim() {
    let p = probe_against(B::Hold, &[]).await;
    assert!(p.held_until_victim >= BLOCKED_READS as u64, "{p:?}");
    assert_eq!(p.probes_retried, 0, "{p:?}");
}

#[tokio::test]
async fn last_only_breaks_nothing() {
    let p = probe_against(B::LastOnly, &[]).await;
    assert!(p.last_only > 0, "{p:?}");
    assert!(p.probes_retried >= BLOCKED_READS as u64, "{p:?}");
}

#[tokio::test]
async fn out_of_order_breaks_the_order_rules_and_stops_the_probe() {
    let order = [Rule::RflushOutOfOrder, Rule::VictimReplyAfterLastRflush];
    let p = probe_against_some(B::OutOfOrder, &[], &order).await;
    assert!(order.iter().any(|&r| p.violations(r) > 0), "{p:#?}");
    assert!(p.probes < 40, "probing went on: {p:?}");
}

/// QEMU 9pfs's bug: the later Tflush of a chain are never answered. The
/// probe sees it, stops, and the tags of those chains stay held.
#[tokio::test]
async fn first_only_loses_later_flushes_and_stops_the_probe() {
    let p = probe_against(B::FirstOnly, &[Rule::UnansweredFlush]).await;
    assert!(p.probes < 40, "probing went on: {p:?}");
}

#[tokio::test]
async fn rlerror_is_an_error_reply_to_tflush() {
    probe_against(B::Rlerror, &[Rule::ErrorReplyToTflush]).await;
}

#[tokio::test]
async fn never_leaves_flushes_unanswered_and_stops_the_probe() {
    // A self-flush goes out now and then: the probe may stop before one.
    let p = probe_against_some(
        B::Never,
        &[Rule::UnansweredFlush],
        &[Rule::UnansweredSelfFlush],
    )
    .await;
    assert!(p.probes < 40, "probing went on: {p:?}");
}

#[tokio::test]
async fn no_self_flush_leaves_a_self_flush_unanswered() {
    let p = probe_against(B::NoSelfFlush, &[Rule::UnansweredSelfFlush]).await;
    assert_eq!(p.self_flushes, 1, "no more after the first unanswered");
}

#[tokio::test]
async fn without_the_probe_nothing_is_flushed() {
    let server = server(B::Correct);
    let addr: Address = server.addr().to_string().parse().unwrap();
    let client = Client::connect(&addr, &Config::default()).await.unwrap();
    workload(&client).await;
    let p = client.flush_profile();
    assert_eq!((p.probes, client.stats().flushes_sent), (0, 0));
    assert!(client.traffic().requests("Tread") >= BLOCKED_READS as u64);
    assert!(client.traffic().bytes_read > 0);
}

/// A probed read that the caller then interrupts, on a server that never
/// answers Tflush and never ends the read: the caller is told within the
/// flush policy's bound, as without the probe.
#[tokio::test]
async fn an_interrupted_probed_read_still_ends_in_time() {
    let server = ScriptedServer::start(B::Never);
    // This server never answers: how long to wait for it is no matter.
    let flush_timeout = Duration::from_millis(150);
    // One Tflush at most: the probe's is the only one, the cancel adds none.
    let cfg = Config {
        flush: FlushPolicy {
            timeout: flush_timeout,
            max_flushes: 1,
        },
        flush_probe: 1,
        ..Config::default()
    };
    let addr: Address = server.addr().to_string().parse().unwrap();
    let client = Client::connect(&addr, &cfg).await.unwrap();
    let root = client.attach("root", "/", 0).await.unwrap();
    let mut f = root.walk(&["block", "0"]).await.unwrap();
    f.lopen(libc::O_RDONLY as u32).await.unwrap();
    let token = ninep_client::CancelToken::new();
    let read = token.scope(f.read(0, 100));
    let cancel = async {
        // Long enough for the probe's own timeout to pass silently.
        tokio::time::sleep(2 * flush_timeout).await;
        token.cancel();
    };
    let (r, ()) = tokio::time::timeout(LIMIT, async { tokio::join!(read, cancel) })
        .await
        .expect("the interrupted read ended");
    assert!(
        matches!(r, Err(ninep_client::Error::FlushUnconfirmed)),
        "{r:?}"
    );
    server.release_all();
}
