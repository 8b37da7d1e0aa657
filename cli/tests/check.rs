//! `ninep-mount check` against the scripted server in each flush behaviour:
//! every misbehaviour is caught by the case that should catch it, with the
//! right verdict, the correct server passes every case, and every verdict
//! agrees with the message log printed beside it.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use ninep_tests::scripted::{Config, FlushBehaviour, ScriptedServer};
use serde_json::Value;

/// Run the check binary against `addr`; the parsed JSON and exit status.
pub fn run_check(addr: &str, extra: &[&str]) -> (Vec<Value>, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_ninep-mount"))
        .args(["check", addr, "--json", "--wait", "1.5"])
        .args(extra)
        .output()
        .expect("run ninep-mount check");
    let text = String::from_utf8_lossy(&out.stdout);
    let json: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let code = out.status.code().expect("exit code");
    (json.as_array().expect("an array").clone(), code)
}

fn verdicts(outcomes: &[Value]) -> BTreeMap<String, String> {
    outcomes
        .iter()
        .map(|o| {
            (
                o["case"].as_str().unwrap().into(),
                o["verdict"].as_str().unwrap().into(),
            )
        })
        .collect()
}

/// The events of one outcome as (dir, tag, msg, detail).
fn events(o: &Value) -> Vec<(String, u64, String, String)> {
    o["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["dir"].as_str().unwrap().into(),
                e["tag"].as_u64().unwrap(),
                e["msg"].as_str().unwrap().into(),
                e["detail"].as_str().unwrap().into(),
            )
        })
        .collect()
}

/// Check that a verdict is borne out by the log printed with it.
pub fn agrees_with_log(o: &Value) {
    let case = o["case"].as_str().unwrap();
    let verdict = o["verdict"].as_str().unwrap();
    let ev = events(o);
    let flush_tags: Vec<u64> = ev
        .iter()
        .filter(|(d, _, m, _)| d == "out" && m == "Tflush")
        .map(|e| e.1)
        .collect();
    let answered = |t: u64| {
        ev.iter()
            .any(|(d, tag, m, _)| d == "in" && *tag == t && m == "Rflush")
    };
    let error_to_flush = ev.iter().any(|(d, t, m, _)| {
        d == "in" && flush_tags.contains(t) && (m == "Rlerror" || m == "Rerror")
    });
    let ctx = format!("{case}: {verdict}: {:#?}", o["reason"]);
    match verdict {
        "pass" | "pass-minimal" => {
            assert!(!error_to_flush, "{ctx}");
            let last = *flush_tags.last().expect("a pass needs a Tflush");
            assert!(answered(last), "{ctx}: the last Tflush must be answered");
            if verdict == "pass" && case != "flush-of-flush" {
                assert!(flush_tags.iter().all(|&t| answered(t)), "{ctx}");
            }
        }
        "fail-rerror" => assert!(error_to_flush, "{ctx}"),
        "fail-hang" => assert!(
            flush_tags.iter().any(|&t| !answered(t)) || case == "storm",
            "{ctx}: something must be unanswered"
        ),
        "fail-order" => {
            // Two Rflush arrive in the reverse order of their Tflush.
            let order: Vec<u64> = ev
                .iter()
                .filter(|(d, _, m, _)| d == "in" && m == "Rflush")
                .map(|e| e.1)
                .collect();
            let pos = |t: u64| flush_tags.iter().position(|&x| x == t);
            let reversed = order.windows(2).any(|w| pos(w[1]) < pos(w[0]));
            assert!(reversed, "{ctx}: {order:?} vs sent {flush_tags:?}");
        }
        "fail-late-reply" => {
            // Something arrives on a tag after an Rflush released it.
            let first_rflush = ev
                .iter()
                .position(|(d, _, m, _)| d == "in" && m == "Rflush")
                .expect("a release");
            assert!(
                ev[first_rflush + 1..].iter().any(|(d, _, _, _)| d == "in"),
                "{ctx}"
            );
        }
        "skipped" => {}
        v => panic!("unknown verdict {v}"),
    }
}

fn scripted(flush: FlushBehaviour) -> ScriptedServer {
    let mut cfg = Config::new(flush);
    // Held victims finish by themselves, inside the check's 1.5 s bound.
    cfg.read_timeout = Some(Duration::from_millis(1000));
    ScriptedServer::start_with(cfg).expect("start the scripted server")
}

/// The verdict of every case for one behaviour; cases not listed: `pass`.
fn expect(flush: FlushBehaviour, special: &[(&str, &str)]) {
    let server = scripted(flush);
    let (outcomes, code) = run_check(&server.addr().to_string(), &["--victim", "block/0"]);
    for o in &outcomes {
        agrees_with_log(o);
    }
    let got = verdicts(&outcomes);
    assert_eq!(got.len(), 11, "{got:?}");
    let mut want: BTreeMap<String, String> = got
        .keys()
        .map(|k| (k.clone(), "pass".to_string()))
        .collect();
    for (case, v) in special {
        want.insert(case.to_string(), v.to_string());
    }
    assert_eq!(got, want, "behaviour {flush}");
    let failed = want.values().any(|v| v.starts_with("fail"));
    assert_eq!(code, failed as i32, "exit status");
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
            ("independent", held),
            ("unconfirmed", held),
        ],
    );
}

#[test]
fn answering_only_the_last_flush_is_minimal() {
    expect(FlushBehaviour::LastOnly, &[("multiple", "pass-minimal")]);
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
    let all = [
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
    let special: Vec<(&str, &str)> = all.iter().map(|c| (*c, e)).collect();
    expect(FlushBehaviour::Rlerror, &special);
}

#[test]
fn unanswered_flushes_are_hangs() {
    let h = "fail-hang";
    let all = [
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
    let special: Vec<(&str, &str)> = all.iter().map(|c| (*c, h)).collect();
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
