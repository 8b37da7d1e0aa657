//! Running `ninep-mount check` and checking its verdicts against its log.

use std::collections::BTreeMap;
use std::process::Command;

use serde_json::Value;

/// Tags the check uses from here up are clean-up traffic, not evidence.
const CLEANUP_TAGS: u64 = 500;

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
    // The summary heads the cases: the verdicts it counts are theirs.
    let cases = json["cases"].as_array().expect("cases").clone();
    let summary = &json["summary"];
    assert!(
        summary["dialect"].is_string() && summary["msize"].is_u64(),
        "{summary}"
    );
    let counted: u64 = summary["verdicts"]
        .as_object()
        .expect("verdicts")
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(counted, cases.len() as u64, "{summary}");
    (cases, code)
}

pub fn verdicts(outcomes: &[Value]) -> BTreeMap<String, String> {
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
        .filter(|(d, t, m, _)| d == "out" && m == "Tflush" && *t < CLEANUP_TAGS)
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
        "fail-hang" => {
            let reason = o["reason"].as_str().unwrap();
            // Either the log shows an unanswered Tflush (or, for the storm,
            // a request after it), or the server was gone afterwards.
            let died = reason.contains("then the server stopped answering")
                || reason.starts_with("set-up failed");
            assert!(
                died || flush_tags.iter().any(|&t| !answered(t)) || case == "storm",
                "{ctx}: something must be unanswered"
            )
        }
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
        "inconclusive" => {
            // It says which: the victim never ended (nothing came back at
            // all), or the case's set-up did not happen.
            let reason = o["reason"].as_str().unwrap();
            let never_ended = reason.contains("never ended")
                && !ev.iter().any(|(d, t, _, _)| d == "in" && *t < CLEANUP_TAGS);
            let no_setup = reason.contains("no second one was needed")
                || reason.contains("nothing independent was flushed");
            assert!(never_ended || no_setup, "{ctx}");
        }
        v => panic!("unknown verdict {v}"),
    }
}

/// Run the check with `args` against `addr` and assert its verdicts: every
/// case `pass` but those in `special`, each verdict agreeing with its log,
/// and the exit status 1 exactly when a case failed. `label` names the
/// setup in assertion messages.
pub fn assert_verdicts(addr: &str, args: &[&str], special: &[(&str, &str)], label: &str) {
    let (outcomes, code) = run_check(addr, args);
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
    assert_eq!(got, want, "{label}");
    let failed = want.values().any(|v| v.starts_with("fail"));
    assert_eq!(code, failed as i32, "exit status");
}
