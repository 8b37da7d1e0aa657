//! `ninep-mount check`: a live test of how a server handles Tflush.
//!
//! Each case of [`cases::CASES`] runs on a fresh connection with tags the
//! check picks itself, logs every message with its time, and ends in a
//! [`Verdict`] with its reason and that log as evidence.
//!
//! # Layout
//! - `raw`: a connection where the caller picks every tag; everything logged.
//! - `cases`: the cases and what each one sends.
//! - `verdict`: verdicts, the wire invariants, and the judgement of a chain.
//! - `report`: the table for people and the JSON for machines.

mod cases;
mod raw;
mod report;
mod verdict;

use std::time::Duration;

pub use cases::{Settings, CASES};
pub use raw::Target;
pub use verdict::Verdict;

/// One case's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Outcome {
    /// The case's name.
    pub case: &'static str,
    /// What the server did.
    pub verdict: Verdict,
    /// Why that verdict.
    pub reason: String,
    /// Every message of the case, in order.
    pub events: Vec<raw::Event>,
}

/// A whole check: what was checked, and each case's outcome.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Run {
    /// The server and what it negotiated, and the verdicts counted.
    pub summary: Summary,
    /// Every case run, in order.
    pub cases: Vec<Outcome>,
}

/// The head of a check's JSON.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// The server's address.
    pub server: String,
    /// The dialect it negotiated.
    pub dialect: String,
    /// The msize it granted.
    pub msize: u32,
    /// Cases by verdict (`pass`: 7, ...).
    pub verdicts: std::collections::BTreeMap<&'static str, usize>,
}

/// Run every case (or those named in `only`), in order.
pub async fn run_all(s: &Settings, only: &[String]) -> anyhow::Result<Run> {
    // Fail early, with the real reason, when the server cannot be used at all.
    let first = raw::RawConn::open(&s.target).await?;
    let (dialect, msize) = (first.dialect.to_string(), first.msize);
    drop(first);
    let mut out = Vec::new();
    for case in CASES {
        if !only.is_empty() && !only.iter().any(|n| n == case.name) {
            continue;
        }
        let ((verdict, reason), events) = if case.needs_victim && s.victim.is_none() {
            let why = "needs a file whose read blocks (--victim PATH)".to_string();
            ((Verdict::Skipped, why), Vec::new())
        } else {
            cases::run(case, s).await
        };
        out.push(Outcome {
            case: case.name,
            verdict,
            reason,
            events,
        });
    }
    let mut verdicts = std::collections::BTreeMap::new();
    for o in &out {
        *verdicts.entry(o.verdict.name()).or_insert(0) += 1;
    }
    let summary = Summary {
        server: s.target.addr.to_string(),
        dialect,
        msize,
        verdicts,
    };
    Ok(Run {
        summary,
        cases: out,
    })
}

/// Print the run (table or JSON); true when no case failed.
pub fn report(run: &Run, json: bool) -> anyhow::Result<bool> {
    if json {
        println!("{}", serde_json::to_string_pretty(run)?);
    } else {
        print!("{}", report::table(&run.cases));
    }
    Ok(!run.cases.iter().any(|o| o.verdict.failed()))
}

/// Defaults for the bounds of the check. A victim in a victimfs on this
/// machine (the attach name a local path) is released by the check.
pub fn default_settings(target: Target, victim: Option<String>, wait: Duration) -> Settings {
    let local = victim
        .as_ref()
        .map(|v| std::path::Path::new(&target.aname).join(v.trim_start_matches('/')));
    let victimfs = local
        .filter(|p| p.is_absolute())
        .and_then(|p| crate::victimfs::serving(&p));
    Settings {
        target,
        victim,
        wait,
        linger: Duration::from_millis(300),
        block_check: Duration::from_millis(300),
        release: victimfs,
        hold: (wait / 3).min(Duration::from_millis(500)),
    }
}
