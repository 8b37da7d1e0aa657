//! `ninep-bench --rtt`: the bare round trip that bounds a `cache=none`
//! mount from below (see docs/performance.md, on the `cache=none` storm). Run
//! against diod; the line it prints must hold as many round trips as asked,
//! in order p10 <= median <= p90, and a read of a file must still work
//! alongside it.

use std::fs;
use std::process::Command;

use ninep_tests::servers::{temp_dir, Diod};

/// The `key=value` fields of the first output line that starts with `kind`.
fn fields(out: &str, kind: &str) -> Vec<(String, String)> {
    let line = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind} line in:\n{out}"));
    line.split_whitespace()
        .skip(1)
        .filter_map(|f| f.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn field(fields: &[(String, String)], key: &str) -> f64 {
    let v = &fields.iter().find(|(k, _)| k == key).expect(key).1;
    v.parse()
        .unwrap_or_else(|_| panic!("{key}={v} is not a number"))
}

#[test]
fn rtt_counts_its_round_trips_and_orders_its_percentiles() {
    let dir = temp_dir().unwrap();
    fs::write(dir.path().join("f"), vec![7u8; 300_000]).unwrap();
    let diod = Diod::start(&[dir.path()]).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ninep-bench"))
        .arg(diod.addr().to_string())
        .args(["--aname", diod.exports()[0].to_str().unwrap()])
        .args(["--rtt", "200", "--file", "f", "--depth", "4", "--runs", "1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rtt = fields(&text, "rtt");
    assert_eq!(field(&rtt, "count"), 200.0);
    let (p10, mid, p90) = (
        field(&rtt, "p10_us"),
        field(&rtt, "median_us"),
        field(&rtt, "p90_us"),
    );
    assert!(0.0 < p10 && p10 <= mid && mid <= p90, "{text}");
    assert_eq!(field(&fields(&text, "run"), "bytes"), 300_000.0);
}

#[test]
fn without_a_file_or_round_trips_there_is_nothing_to_do() {
    let out = Command::new(env!("CARGO_BIN_EXE_ninep-bench"))
        .arg("127.0.0.1:9")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing to do"), "{err}");
}
