//! Verdicts and the analysis of a flush exchange, shared by the cases.

use std::time::Duration;

use ninep_client::wire::Rmessage;
use ninep_client::Tag;

use super::raw::Received;

/// How a server handled one case (DESIGN.md, "Server check").
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// As the protocol intends: prompt, complete, in order.
    Pass,
    /// Within what the protocol allows, but the least of it: an Rflush held
    /// until the victim completed, only the last of several answered, an
    /// answer only to a repeated Tflush.
    PassMinimal,
    /// Replies out of order (an Rflush before an earlier one, a flush of a
    /// flush answered first), or a malformed Rflush.
    FailOrder,
    /// An error reply to a Tflush.
    FailRerror,
    /// A message on a tag that had been released.
    FailLateReply,
    /// No answer within the bound.
    FailHang,
    /// Run, but what it asks never came to be tested: the victim's read
    /// never ended (a server may hold its Rflush until it does), or the
    /// case's set-up did not happen (the reason says which).
    Inconclusive,
    /// Not run (no blocking victim, or it did not block).
    Skipped,
}

impl Verdict {
    /// True for the `fail-*` verdicts.
    pub fn failed(self) -> bool {
        matches!(
            self,
            Verdict::FailOrder | Verdict::FailRerror | Verdict::FailLateReply | Verdict::FailHang
        )
    }

    /// The name printed in the table.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::PassMinimal => "pass-minimal",
            Verdict::FailOrder => "fail-order",
            Verdict::FailRerror => "fail-rerror",
            Verdict::FailLateReply => "fail-late-reply",
            Verdict::FailHang => "fail-hang",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Skipped => "skipped",
        }
    }
}

/// A verdict with the reason for it.
pub type Judged = (Verdict, String);

/// The wire invariants of every case: an Rflush is exactly 7 bytes and
/// comes on a tag that carried a Tflush; a Tflush never gets an error.
pub fn wire_checks(got: &[Received], flush_tags: &[Tag]) -> Option<Judged> {
    for r in got {
        let on_flush = flush_tags.contains(&r.tag);
        match &r.msg {
            Ok(Rmessage::Rflush(_)) if r.size != 7 => {
                return Some((
                    Verdict::FailOrder,
                    format!("Rflush on tag {} is {} bytes, not 7", r.tag.0, r.size),
                ))
            }
            Ok(Rmessage::Rflush(_)) if !on_flush => {
                return Some((
                    Verdict::FailOrder,
                    format!("Rflush on tag {}, which carried no Tflush", r.tag.0),
                ))
            }
            Ok(m) if on_flush && m.is_error() => {
                let errno = match m {
                    Rmessage::Rlerror(e) => format!(" (errno {})", e.ecode),
                    Rmessage::Rerror(e) => match e.errno {
                        Some(n) => format!(" ({:?}, errno {n})", e.ename.to_string()),
                        None => format!(" ({:?})", e.ename.to_string()),
                    },
                    _ => String::new(),
                };
                return Some((
                    Verdict::FailRerror,
                    format!("{}{errno} to the Tflush on tag {}", m.name(), r.tag.0),
                ));
            }
            Err(e) if on_flush => {
                return Some((
                    Verdict::FailOrder,
                    format!("malformed reply to the Tflush on tag {}: {e}", r.tag.0),
                ))
            }
            _ => {}
        }
    }
    None
}

/// Where things arrived, by index in `got`.
pub struct Arrivals {
    /// Index of the (first) Rflush for each flush tag, in the order sent.
    pub rflush: Vec<Option<usize>>,
    /// Index of the victim's reply.
    pub victim: Option<usize>,
    /// Replies on the victim's or a flush tag after that tag was released.
    pub late: Vec<String>,
}

/// Sort the replies of one chain (victim `v`, flushes `fs` sent in order).
/// A flush tag is released by its own Rflush or a later one; the victim's
/// tag by the last Tflush's Rflush (rules 2 and 3).
pub fn arrivals(got: &[Received], v: Tag, fs: &[Tag]) -> Arrivals {
    let mut a = Arrivals {
        rflush: vec![None; fs.len()],
        victim: None,
        late: Vec::new(),
    };
    let mut released_upto: Option<usize> = None;
    for (i, r) in got.iter().enumerate() {
        if let Some(k) = fs.iter().position(|&t| t == r.tag) {
            let rflush = matches!(r.msg, Ok(Rmessage::Rflush(_)));
            if released_upto.is_some_and(|u| k <= u) || a.rflush[k].is_some() {
                a.late
                    .push(format!("{} on tag {} after its release", name(r), r.tag.0));
            } else if rflush {
                released_upto = Some(released_upto.map_or(k, |u| u.max(k)));
            }
            // Kept even when late, so the order check sees it.
            if rflush && a.rflush[k].is_none() {
                a.rflush[k] = Some(i);
            }
        } else if r.tag == v {
            if a.victim.is_some() || released_upto == Some(fs.len() - 1) {
                a.late.push(format!(
                    "{} on victim tag {} after its release",
                    name(r),
                    v.0
                ));
            } else {
                a.victim = Some(i);
            }
        }
    }
    a
}

fn name(r: &Received) -> String {
    r.msg
        .as_ref()
        .map_or("malformed reply".into(), |m| m.name().into())
}

/// Judge a chain of `n` flushes of a blocked victim from its arrivals.
pub fn judge_chain(a: &Arrivals, n: usize, wait: Duration) -> Judged {
    let answered: Vec<(usize, usize)> = a
        .rflush
        .iter()
        .enumerate()
        .filter_map(|(k, i)| i.map(|i| (k, i)))
        .collect();
    for w in answered.windows(2) {
        if w[1].1 < w[0].1 {
            return (
                Verdict::FailOrder,
                format!(
                    "Rflush of flush {} came before that of flush {}",
                    w[1].0 + 1,
                    w[0].0 + 1
                ),
            );
        }
    }
    if let Some(l) = a.late.first() {
        return (Verdict::FailLateReply, l.clone());
    }
    let Some(last) = a.rflush[n - 1] else {
        return match answered.len() {
            // Nothing at all, and the victim still blocked: the server may
            // be holding its Rflush until the read ends, which is allowed.
            0 if a.victim.is_none() => (
                Verdict::Inconclusive,
                format!(
                    "no Rflush and no reply within {wait:?}: the victim's read never ended, and \
                     a server may hold its Rflush until it does (release the victim: \
                     `ninep-mount victimfs` lets check do it; or raise --wait)"
                ),
            ),
            0 => (Verdict::FailHang, format!("no Rflush within {wait:?}")),
            k => {
                let which: Vec<String> =
                    answered.iter().map(|(i, _)| (i + 1).to_string()).collect();
                (
                    Verdict::FailHang,
                    format!(
                        "{k} of {n} Tflush answered (flush {}), but not the last (it must be)",
                        which.join(", ")
                    ),
                )
            }
        };
    };
    if a.victim.is_some_and(|v| v < last) {
        let held = "the victim's reply came first: Rflush held until the victim completed";
        return (Verdict::PassMinimal, held.into());
    }
    if answered.len() < n {
        return (
            Verdict::PassMinimal,
            format!(
                "only {} of {n} Tflush answered, the last among them",
                answered.len()
            ),
        );
    }
    (
        Verdict::Pass,
        "every Rflush in order, victim cancelled".into(),
    )
}
