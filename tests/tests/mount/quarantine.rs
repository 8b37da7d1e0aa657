//! Every quarantine is bounded (DESIGN.md rule 8), through a real mount.
//!
//! The server is the scripted one answering Tflush correctly (a flushed
//! read is cancelled and never answered), behind a relay that sends one
//! Rflush twice. That late duplicate is a broken flush rule: from then on
//! the client keeps each flushed request's tag for its own late reply,
//! which this server never sends, so every interrupted read holds a tag
//! for good. Past the bound the mount replaces the connection (a new one,
//! dialled while the old one serves): the held tags never pass the bound,
//! the replacements are counted, and reads go on as before.

use std::fs::File;
use std::time::Duration;

use crate::mount_support::{blocking, config, interrupted_read, quick_flush, Mounted};
use ninep_client::wire::msg_type;
use ninep_client::Config;
use ninep_fuse::{CacheMode, Reconnect};
use ninep_tests::scripted::{FlushBehaviour, ScriptedServer, HELLO};
use ninep_tests::tamper::{Act, Tamper};

/// Tags held before the connection is replaced (small, to get there fast).
const LIMIT: usize = 6;
/// Interrupted reads: enough for several replacements.
const INTERRUPTS: usize = 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn held_tags_are_bounded_by_replacing_the_connection() {
    let server = ScriptedServer::start(FlushBehaviour::Correct);
    let relay = Tamper::start(server.addr()).await.expect("relay");
    let mut doubled = false;
    relay.set(move |req, frame| {
        if req.ty == msg_type::TFLUSH && !doubled {
            doubled = true;
            return Act::Send([frame, frame].concat());
        }
        Act::Pass
    });
    let client = Config {
        quarantine_limit: LIMIT,
        ..quick_flush()
    };
    let mut cfg = config("/", CacheMode::None);
    let addr = relay.addr().to_string().parse().expect("address");
    cfg.reconnect = Some(Reconnect::replace_only(addr, client.clone()));
    let m = Mounted::mount_at(relay.addr().to_string(), cfg, client).await;
    let server = std::sync::Arc::new(server);

    let mut most_held = 0;
    for i in 0..INTERRUPTS {
        let (dir, srv) = (m.dir.clone(), server.clone());
        let n = i % 8;
        let o = blocking(move || {
            let f = File::open(dir.join(format!("block/{n}"))).expect("open a block file");
            let before = srv.blocked_reads();
            interrupted_read(&f, || {
                srv.wait_blocked_sync(before + 1, Duration::from_secs(5))
            })
        })
        .await;
        assert_eq!((o.ret, o.errno), (-1, libc::EINTR), "read {i}: {o:?}");
        let s = m.stats();
        most_held = most_held.max(s.quarantined_tags);
        // Reads go on while the new connection is dialled: a few more
        // may be held meanwhile, never many.
        assert!(
            s.quarantined_tags < 2 * LIMIT,
            "read {i}: {} tags held, bound {LIMIT}",
            s.quarantined_tags
        );
        // The blocked reads the server still holds for cancelled requests.
        server.release_all();
    }
    // The new connections distrust the server's flush order too, so they
    // fill up and are replaced in turn.
    let s = m.stats();
    assert!(
        (2..=INTERRUPTS as u64 / (LIMIT as u64 - 1) + 1).contains(&s.replacements),
        "replacements: {} (held at most {most_held}): {s:?}",
        s.replacements
    );
    assert!(
        most_held >= LIMIT - 1,
        "the tags never piled up: {most_held}"
    );
    let dir = m.dir.clone();
    let hello = blocking(move || std::fs::read(dir.join("hello")).expect("read hello")).await;
    assert_eq!(hello, HELLO, "the mount reads on after its replacements");
    m.unmount().await;
}

/// Requests of [`a_probed_workload_outlives_broken_flush_order`] (set
/// `NINEP_PROBE_REQUESTS` higher for a long run, as scripts/load.sh does).
fn probe_requests() -> u64 {
    std::env::var("NINEP_PROBE_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

/// `flushprobe=1` on diod behind a relay that holds back one Rflush (so a
/// later one may overtake it) and sends the next one twice: the broken
/// flush rule is seen, the probe stops (on such a server each probed
/// request could hold a tag for good), and a stat-and-read workload runs
/// to the end with every byte right, few tags ever held, at most a few
/// replacements, and nothing leaked.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_probed_workload_outlives_broken_flush_order() {
    use crate::mount_support::relayed::Relayed;
    let files: Vec<(String, Vec<u8>)> = (0..16)
        .map(|i| {
            (
                format!("f{i}"),
                format!("file {i}\n").repeat(i + 1).into_bytes(),
            )
        })
        .collect();
    let seeds: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    let r = Relayed::start_tweaked(&seeds, |_, c| c.flush_probe = 1).await;
    let mut rflushes = 0u32;
    r.tamper.set(move |req, frame| {
        if req.ty != msg_type::TFLUSH {
            return Act::Pass;
        }
        rflushes += 1;
        match rflushes {
            2 => Act::Later(Duration::from_millis(30)),
            3 => Act::Send([frame, frame].concat()),
            _ => Act::Pass,
        }
    });
    let want = probe_requests();
    let mut most_held = 0;
    while r.m.stats().client.requests < want {
        let dir = r.m.dir.clone();
        let expect = files.clone();
        blocking(move || {
            for (name, data) in &expect {
                let p = dir.join(name);
                assert_eq!(
                    std::fs::metadata(&p).expect("stat").len(),
                    data.len() as u64
                );
                assert_eq!(&std::fs::read(&p).expect("read"), data, "{name}");
            }
        })
        .await;
        most_held = most_held.max(r.m.stats().quarantined_tags);
    }
    let s = r.m.stats();
    let p = r.m.flush_profile();
    // The first broken rule ends the probing, and with it the Tflushes
    // the relay could tamper with.
    assert!(p.total_violations() >= 1, "{p:?}");
    assert!(most_held <= 8, "{most_held} tags held: {s:?}");
    assert!(s.replacements <= 3, "{s:?}");
    assert!(
        p.probes > 0,
        "nothing was probed before the rules broke: {p:?}"
    );
    r.m.unmount_clean().await;
}
