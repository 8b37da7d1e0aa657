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

/// Run every case (or those named in `only`), in order.
pub async fn run_all(s: &Settings, only: &[String]) -> anyhow::Result<Vec<Outcome>> {
    // Fail early, with the real reason, when the server cannot be used at all.
    raw::RawConn::open(&s.target).await?;
    let mut out = Vec::new();
    for case in CASES {
        if !only.is_empty() && !only.iter().any(|n| n == case.name) {
            continue;
        }
        let ((verdict, reason), events) = if case.needs_victim && s.victim.is_none() {
            let why = "needs a file whose read blocks (--victim PATH)".to_string();
            ((Verdict::Skipped, why), Vec::new())
        } else {
            cases::run(case.name, s).await
        };
        out.push(Outcome {
            case: case.name,
            verdict,
            reason,
            events,
        });
    }
    Ok(out)
}

/// Print the outcomes (table or JSON); true when no case failed.
pub fn report(outcomes: &[Outcome], json: bool) -> anyhow::Result<bool> {
    if json {
        println!("{}", serde_json::to_string_pretty(outcomes)?);
    } else {
        print!("{}", report::table(outcomes));
    }
    Ok(!outcomes.iter().any(|o| o.verdict.failed()))
}

/// Defaults for the bounds of the check.
pub fn default_settings(target: Target, victim: Option<String>, wait: Duration) -> Settings {
    Settings {
        target,
        victim,
        wait,
        linger: Duration::from_millis(300),
        block_check: Duration::from_millis(300),
    }
}
