//! The flush profile and the flush probe, driven by hand: every time is
//! passed in, so latencies and timeouts are exact.

use std::time::{Duration, Instant};

use super::tests::*;
use super::*;
use crate::wire::*;

const MS: Duration = Duration::from_millis(1);

fn sent_flushes(actions: &[Action<u32>]) -> Vec<(Tag, Tag)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(t, Tmessage::Tflush(f)) => Some((*t, f.oldtag)),
            _ => None,
        })
        .collect()
}

fn rflush() -> Result<Rmessage, DecodeError> {
    Ok(Rflush {}.into())
}

fn rread(n: usize) -> Result<Rmessage, DecodeError> {
    Ok(Rread {
        data: Data(bytes::Bytes::from(vec![7u8; n])),
    }
    .into())
}

/// A Tread probed with `n` Tflush at `t0`: (victim, flush tags).
fn probed_read(s: &mut Session<u32>, n: u32, t0: Instant) -> (Tag, Vec<Tag>) {
    let (v, id) = s.start(&read(), Some(1)).unwrap();
    let f = sent_flushes(&s.probe(v, id, n, false, t0));
    assert_eq!(f.len(), n as usize);
    assert!(f.iter().all(|&(_, old)| old == v), "each names the victim");
    (v, f.into_iter().map(|(t, _)| t).collect())
}

fn only(p: &FlushProfile, rule: Option<Rule>) {
    for (r, n) in p.violation_counts() {
        let want = u64::from(Some(r) == rule);
        assert_eq!(n, want, "{r}: {n} (profile {p:?})");
    }
}

#[test]
fn victim_first_then_rflushes_in_order_is_held_and_timed() {
    let mut s = session();
    let t0 = Instant::now();
    let (v, fs) = probed_read(&mut s, 2, t0);
    // A third of the flush timeout: the victim was at work.
    let t = t0 + FlushPolicy::default().timeout / 3;
    let a = s.on_reply_at(v, rread(5), t + 5 * MS);
    assert!(matches!(delivered(&a), Some((1, Ok(_), None))));
    assert!(s.on_reply_at(fs[0], rflush(), t + 6 * MS).is_empty());
    assert!(s.on_reply_at(fs[1], rflush(), t + 7 * MS).is_empty());
    let p = s.flush_profile();
    assert_eq!((p.probes, p.victims_won, p.held_until_victim), (1, 1, 1));
    assert_eq!(p.chains_by_length[1], 1);
    assert_eq!(p.rflush_latency.count(), 2);
    assert_eq!(p.rflush_latency.max(), t + 7 * MS - t0);
    assert_eq!(p.rflush_latency.min(), t + 6 * MS - t0);
    assert!(p.rflush_latency.quantile(0.5) >= t + 6 * MS - t0);
    only(&p, None);
    assert_eq!(s.stats().quarantined, 0);
    assert_eq!(s.traffic().bytes_read, 5);
}

#[test]
fn a_victim_answered_before_the_server_read_the_tflush_was_not_held() {
    let mut s = session();
    let t0 = Instant::now();
    // A victim answered soon, its Rflush after it: won, not held.
    let (v, fs) = probed_read(&mut s, 1, t0);
    s.on_reply_at(v, rread(1), t0 + 5 * MS);
    s.on_reply_at(fs[0], rflush(), t0 + 6 * MS);
    let p = s.flush_profile();
    assert_eq!((p.victims_won, p.held_until_victim), (1, 0));
}

#[test]
fn rflush_first_flushes_the_probe_and_keeps_the_walk_fid() {
    let mut s = session();
    let t0 = Instant::now();
    let root = s.alloc_fid().unwrap();
    let newfid = s.alloc_fid().unwrap();
    let (v, id) = s.start(&walk(root, newfid, &["a"]), Some(1)).unwrap();
    let fs = sent_flushes(&s.probe(v, id, 1, false, t0));
    let a = s.on_reply_at(fs[0].0, rflush(), t0 + MS);
    assert!(matches!(
        delivered(&a),
        Some((1, Err(Error::Flushed), None))
    ));
    assert_eq!(s.stats().fids_in_use, 2, "newfid kept for the retry");
    let p = s.flush_profile();
    assert_eq!((p.probes_retried, p.victims_won), (1, 0));
    only(&p, None);
    // The retry, with the same fid, binds it.
    let (v2, _) = s.start(&walk(root, newfid, &["a"]), Some(2)).unwrap();
    let a = s.on_reply(v2, rwalk(1));
    assert!(matches!(delivered(&a), Some((2, Ok(_), Some(f))) if f == newfid));
}

#[test]
fn out_of_order_rflush_and_late_victim_are_two_rules() {
    let mut s = session();
    let t0 = Instant::now();
    let (v, fs) = probed_read(&mut s, 2, t0);
    let a = s.on_reply_at(fs[1], rflush(), t0 + MS);
    assert!(matches!(delivered(&a), Some((1, Err(Error::Flushed), _))));
    assert_eq!(s.flush_profile().last_only, 1);
    assert_eq!(violations(&s.on_reply_at(fs[0], rflush(), t0 + 2 * MS)), 1);
    let p = s.flush_profile();
    assert_eq!(p.violations(Rule::RflushOutOfOrder), 1);
    assert_eq!(violations(&s.on_reply_at(v, rread(1), t0 + 3 * MS)), 1);
    let p = s.flush_profile();
    assert_eq!(p.violations(Rule::VictimReplyAfterLastRflush), 1);
    assert_eq!(p.total_violations(), 2);
}

#[test]
fn error_reply_to_a_probe_flush_leaves_the_victim_to_answer() {
    let mut s = session();
    let t0 = Instant::now();
    let (v, fs) = probed_read(&mut s, 1, t0);
    assert_eq!(violations(&s.on_reply_at(fs[0], rlerror(95), t0)), 1);
    only(&s.flush_profile(), Some(Rule::ErrorReplyToTflush));
    let a = s.on_reply_at(v, rread(1), t0 + MS);
    assert!(matches!(delivered(&a), Some((1, Ok(_), None))));
    assert_eq!(s.stats().in_flight, 0);
    assert_eq!(s.stats().quarantined, 0);
    assert_eq!(s.flush_profile().chains_by_length[0], 1, "the chain ended");
}

#[test]
fn a_probe_timeout_sends_nothing_and_fails_nobody() {
    let mut s = session();
    let t0 = Instant::now();
    let (v, fs) = probed_read(&mut s, 1, t0);
    let later = t0 + 10 * FlushPolicy::default().timeout;
    assert!(s.on_timeout(later).is_empty());
    assert_eq!(s.next_deadline(), None);
    only(&s.flush_profile(), None);
    // The victim answers late (a server holding the Rflush): delivered,
    // and a full timeout is given to the Rflush from then on.
    let a = s.on_reply_at(v, rread(1), later);
    assert!(matches!(delivered(&a), Some((1, Ok(_), None))));
    assert_eq!(
        s.next_deadline(),
        Some(later + FlushPolicy::default().timeout)
    );
    assert!(s.on_reply_at(fs[0], rflush(), later + MS).is_empty());
    assert_eq!(s.flush_profile().held_until_victim, 1);
    only(&s.flush_profile(), None);
}

#[test]
fn an_unanswered_flush_is_counted_once_and_stops_the_probe() {
    let mut s = session();
    let t0 = Instant::now();
    let (v, _) = probed_read(&mut s, 3, t0);
    s.on_reply_at(v, rread(1), t0 + MS);
    assert!(s.probing());
    let deadline = s.next_deadline().unwrap();
    assert!(s.on_timeout(deadline).is_empty());
    only(&s.flush_profile(), Some(Rule::UnansweredFlush));
    assert!(!s.probing());
    assert_eq!(s.stats().quarantined, 4, "the victim and its three flushes");
}

#[test]
fn an_unanswered_self_flush_is_counted_and_not_sent_again() {
    let mut s = session();
    let t0 = Instant::now();
    let (v, id) = s.start(&read(), Some(1)).unwrap();
    let f = sent_flushes(&s.probe(v, id, 1, true, t0));
    assert_eq!(f.len(), 2);
    let own = f[1].0;
    assert_eq!(f[1], (own, own), "a self-flush names its own tag");
    s.on_reply_at(f[0].0, rflush(), t0 + MS);
    s.on_timeout(s.next_deadline().unwrap());
    only(&s.flush_profile(), Some(Rule::UnansweredSelfFlush));
    assert_eq!(s.stats().quarantined, 1);
    let (v2, id2) = s.start(&read(), Some(2)).unwrap();
    assert_eq!(sent_flushes(&s.probe(v2, id2, 1, true, t0)).len(), 1);
    // A late answer frees the tag.
    assert!(s.on_reply_at(own, rflush(), t0 + 9 * MS).is_empty());
    assert_eq!(s.stats().quarantined, 0);
    assert_eq!(s.flush_profile().self_flushes, 1);
}

#[test]
fn an_answered_self_flush_breaks_nothing() {
    let mut s = session();
    let t0 = Instant::now();
    let (v, id) = s.start(&read(), Some(1)).unwrap();
    let f = sent_flushes(&s.probe(v, id, 1, true, t0));
    s.on_reply_at(v, rread(1), t0);
    s.on_reply_at(f[0].0, rflush(), t0 + MS);
    s.on_reply_at(f[1].0, rflush(), t0 + MS);
    assert_eq!(s.next_deadline(), None);
    only(&s.flush_profile(), None);
    assert_eq!(s.stats().quarantined, 0);
}

#[test]
fn stray_and_mismatched_replies_name_their_rules() {
    let mut s = session();
    assert_eq!(violations(&s.on_reply(Tag(9), rread(1))), 1);
    only(&s.flush_profile(), Some(Rule::ReplyOnReleasedTag));
    let (v, _) = s.start(&read(), Some(1)).unwrap();
    let a = s.on_reply(v, rwalk(0));
    assert!(matches!(
        delivered(&a),
        Some((1, Err(Error::Protocol(_)), _))
    ));
    assert_eq!(s.flush_profile().violations(Rule::TypeMismatch), 1);
}

#[test]
fn a_real_cancel_of_a_probed_request_follows_the_usual_rules() {
    let mut s = session();
    let t0 = Instant::now();
    let (v, id) = s.start(&read(), Some(1)).unwrap();
    s.probe(v, id, 1, false, t0);
    assert_eq!(sent_flushes(&s.cancel(v, id, t0)).len(), 1);
    let mut now = t0;
    let mut failed = false;
    for _ in 0..5 {
        now = s.next_deadline().unwrap_or(now);
        failed |= s.on_timeout(now).iter().any(|a| {
            matches!(
                a,
                Action::Deliver {
                    result: Err(Error::FlushUnconfirmed),
                    ..
                }
            )
        });
    }
    assert!(failed, "the cancelled caller is told after the last flush");
    assert_eq!(s.flush_profile().chains_by_length.iter().sum::<u64>(), 0);
}

#[test]
fn a_cancel_after_a_silent_probe_timeout_still_ends_in_time() {
    let mut s = session();
    let t0 = Instant::now();
    let timeout = FlushPolicy::default().timeout;
    let (v, id) = s.start(&read(), Some(1)).unwrap();
    assert_eq!(sent_flushes(&s.probe(v, id, 3, false, t0)).len(), 3);
    assert!(s.on_timeout(t0 + timeout).is_empty(), "a probe waits");
    assert_eq!(s.next_deadline(), None);
    // The caller is interrupted: no Tflush left to send, but a deadline.
    let later = t0 + 5 * timeout;
    assert!(s.cancel(v, id, later).is_empty());
    assert_eq!(s.next_deadline(), Some(later + timeout));
    let a = s.on_timeout(later + timeout);
    assert!(matches!(
        delivered(&a),
        Some((1, Err(Error::FlushUnconfirmed), None))
    ));
}

#[test]
fn traffic_counts_requests_by_type_and_bytes() {
    let mut s = session();
    for _ in 0..2 {
        let (t, _) = s.start(&read(), Some(1)).unwrap();
        s.on_reply(t, rread(10));
    }
    let w: Tmessage = Twrite {
        fid: Fid(0),
        offset: 0,
        data: Data(bytes::Bytes::from_static(b"abc")),
    }
    .into();
    let (t, _) = s.start(&w, Some(1)).unwrap();
    s.on_reply(t, Ok(Rwrite { count: 3 }.into()));
    let tr = s.traffic();
    assert_eq!((tr.requests("Tread"), tr.requests("Twrite")), (2, 1));
    assert_eq!((tr.bytes_read, tr.bytes_written), (20, 3));
}
