//! `ninep-mount check` against the scripted server in each flush behaviour:
//! every misbehaviour is caught by the case that should catch it, with the
//! right verdict, the correct server passes every case, and every verdict
//! agrees with the message log printed beside it.

use std::process::Command;
use std::time::Duration;

use crate::common::{assert_verdicts, run_check, verdicts};
use ninep_tests::scripted::{Config, FlushBehaviour, ScriptedServer};

/// Every case the check runs.
const ALL_CASES: [&str; 11] = [
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

fn scripted(flush: FlushBehaviour) -> ScriptedServer {
    let mut cfg = Config::new(flush);
    // Held victims finish by themselves, inside the check's 1.5 s bound.
    cfg.read_timeout = Some(Duration::from_millis(1000));
    ScriptedServer::start_with(cfg).expect("start the scripted server")
}

/// The verdict of every case for one behaviour; cases not listed: `pass`,
/// but `unconfirmed`, which is `inconclusive` when the server answers its
/// first Tflush in time (its second is then never needed).
fn expect(flush: FlushBehaviour, special: &[(&str, &str)]) {
    let server = scripted(flush);
    let addr = server.addr().to_string();
    let label = format!("behaviour {flush}");
    let mut special = special.to_vec();
    if !special.iter().any(|(c, _)| *c == "unconfirmed") {
        special.push(("unconfirmed", "inconclusive"));
    }
    assert_verdicts(&addr, &["--victim", "block/0"], &special, &label);
}

#[test]
fn correct_server_passes_every_case() {
    expect(FlushBehaviour::Correct, &[]);
}

#[test]
fn holding_server_passes_minimally() {
    let held = "pass-minimal";
    expect(
        FlushBehaviour::Hold,
        &[
            ("single", held),
            ("multiple", held),
            ("queued", held),
            // Both reads end together once released: the second before
            // its own Tflush went out.
            ("independent", "inconclusive"),
        ],
    );
}

#[test]
fn answering_only_the_last_flush_is_minimal() {
    expect(FlushBehaviour::LastOnly, &[("multiple", "pass-minimal")]);
}

/// QEMU 9pfs's bug (`first-only`): of several Tflush for one victim only
/// the first is answered; `multiple` says so.
#[test]
fn answering_only_the_first_flush_is_a_hang_of_the_last() {
    expect(FlushBehaviour::FirstOnly, &[("multiple", "fail-hang")]);
}

#[test]
fn out_of_order_answers_are_caught() {
    expect(
        FlushBehaviour::OutOfOrder,
        &[
            ("single", "fail-late-reply"),
            ("multiple", "fail-order"),
            ("queued", "fail-late-reply"),
            ("independent", "fail-late-reply"),
            ("unconfirmed", "fail-late-reply"),
            ("reuse", "fail-late-reply"),
        ],
    );
}

#[test]
fn error_replies_to_tflush_are_caught() {
    let e = "fail-rerror";
    let special: Vec<(&str, &str)> = ALL_CASES.iter().map(|c| (*c, e)).collect();
    expect(FlushBehaviour::Rlerror, &special);
}

#[test]
fn unanswered_flushes_are_hangs() {
    let h = "fail-hang";
    let special: Vec<(&str, &str)> = ALL_CASES.iter().map(|c| (*c, h)).collect();
    expect(FlushBehaviour::Never, &special);
}

#[test]
fn unanswered_self_flush_is_a_hang() {
    expect(FlushBehaviour::NoSelfFlush, &[("self-flush", "fail-hang")]);
}

#[test]
fn a_server_that_stops_after_128_flushes_fails_the_storm() {
    expect(FlushBehaviour::LeakAfter(128), &[("storm", "fail-hang")]);
}

#[test]
fn without_a_victim_the_blocking_cases_are_skipped_not_passed() {
    let server = scripted(FlushBehaviour::Correct);
    let (outcomes, code) = run_check(&server.addr().to_string(), &[]);
    let got = verdicts(&outcomes);
    for case in [
        "single",
        "multiple",
        "reuse",
        "flush-of-flush",
        "queued",
        "independent",
        "unconfirmed",
    ] {
        assert_eq!(got[case], "skipped", "{case}");
    }
    for case in ["unused-tag", "after-completion", "self-flush", "storm"] {
        assert_eq!(got[case], "pass", "{case}");
    }
    assert_eq!(code, 0);
}

#[test]
fn an_unreachable_server_is_an_error_not_a_report() {
    let out = Command::new(env!("CARGO_BIN_EXE_ninep-mount"))
        .args(["check", "127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(32));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("127.0.0.1:1"), "{err}");
}
