//! The check's table for people: one block per case, its verdict and
//! reason, then the messages in order with their times.

use std::fmt::Write;

use super::raw::Dir;
use super::Outcome;

/// Most messages shown per case; the JSON has them all.
const SHOWN: usize = 12;

/// Render `outcomes` as text.
pub fn table(outcomes: &[Outcome]) -> String {
    let mut s = String::new();
    let w = outcomes.iter().map(|o| o.case.len()).max().unwrap_or(4);
    let _ = writeln!(s, "{:<w$}  {:<15}  reason", "case", "verdict");
    for o in outcomes {
        let _ = writeln!(s, "{:<w$}  {:<15}  {}", o.case, o.verdict.name(), o.reason);
        for e in o.events.iter().take(SHOWN) {
            let arrow = match e.dir {
                Dir::Out => "->",
                Dir::In => "<-",
            };
            let _ = writeln!(
                s,
                "{:w$}    {:>9.3} ms {arrow} {:<9} tag {:<5} {}",
                "", e.ms, e.msg, e.tag, e.detail
            );
        }
        if o.events.len() > SHOWN {
            let _ = writeln!(
                s,
                "{:w$}    ... {} more (see --json)",
                "",
                o.events.len() - SHOWN
            );
        }
    }
    let failed = outcomes.iter().filter(|o| o.verdict.failed()).count();
    let _ = writeln!(s, "\n{} cases, {failed} failed", outcomes.len());
    s
}
