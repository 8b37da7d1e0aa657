//! `ninep-mount check` against the scripted server speaking 9P2000 and
//! 9P2000.u: the check finds the dialect (Tversion .L, then .u, then
//! 9P2000), opens its victim with Topen and uses Tstat where it would use
//! Tgetattr, and judges each flush behaviour as it does in 9P2000.L.

use std::time::Duration;

use crate::common::assert_verdicts;
use ninep_client::Dialect;
use ninep_tests::scripted::{Config, FlushBehaviour, ScriptedServer};

/// Every case but those named is expected to `pass`.
fn expect(dialect: Dialect, flush: FlushBehaviour, extra: &[&str], special: &[(&str, &str)]) {
    let mut cfg = Config::new(flush);
    cfg.dialect = dialect;
    cfg.read_timeout = Some(Duration::from_millis(1000));
    let server = ScriptedServer::start_with(cfg).expect("start the scripted server");
    let mut args = vec!["--victim", "block/0"];
    args.extend_from_slice(extra);
    let label = format!("{dialect}, behaviour {flush}");
    // `unconfirmed` is inconclusive when the first Tflush is answered in
    // time: its second one is then never needed.
    let mut special = special.to_vec();
    if !special.iter().any(|(c, _)| *c == "unconfirmed") {
        special.push(("unconfirmed", "inconclusive"));
    }
    assert_verdicts(&server.addr().to_string(), &args, &special, &label);
}

#[test]
fn a_correct_9p2000_server_passes_every_case() {
    expect(Dialect::Classic, FlushBehaviour::Correct, &[], &[]);
}

#[test]
fn a_correct_9p2000_u_server_passes_every_case_when_asked_for_u() {
    expect(
        Dialect::U,
        FlushBehaviour::Correct,
        &["-o", "version=9p2000.u"],
        &[],
    );
}

#[test]
fn a_holding_9p2000_u_server_passes_minimally() {
    let held = "pass-minimal";
    let special = [
        ("single", held),
        ("multiple", held),
        ("queued", held),
        ("independent", "inconclusive"),
    ];
    expect(Dialect::U, FlushBehaviour::Hold, &[], &special);
}

#[test]
fn rerror_to_tflush_is_caught_in_9p2000() {
    let cases = [
        "unused-tag",
        "after-completion",
        "self-flush",
        "single",
        "multiple",
        "reuse",
        "flush-of-flush",
        "queued",
        "independent",
        "unconfirmed",
        "storm",
    ];
    let special: Vec<(&str, &str)> = cases.iter().map(|c| (*c, "fail-rerror")).collect();
    expect(Dialect::Classic, FlushBehaviour::Rlerror, &[], &special);
}
