//! One deterministic test per flush race (DESIGN.md flush rules 1-7): no
//! sockets, no timers, time passed in by hand.

use std::time::{Duration, Instant};

use super::tests::*;
use super::*;
use crate::alloc::{FidAllocator, TagAllocator};
use crate::wire::*;

fn flushes(actions: &[Action<u32>]) -> Vec<(Tag, Tag)> {
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

fn rread() -> Result<Rmessage, DecodeError> {
    Ok(Rread {
        data: Data(bytes::Bytes::from_static(b"x")),
    }
    .into())
}

/// A victim (a Tread, waiter 1) and `n` flushes of it, sent at `now`.
fn victim_with_flushes(s: &mut Session<u32>, n: usize, now: Instant) -> (Tag, u64, Vec<Tag>) {
    let (v, id) = s.start(&read(), Some(1)).unwrap();
    let mut fs = Vec::new();
    for _ in 0..n {
        let f = flushes(&s.cancel(v, id, now));
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].1, v,
            "every Tflush names the victim, never a flush (rule 1)"
        );
        fs.push(f[0].0);
    }
    (v, id, fs)
}

/// True when `tag` is free: the allocator would hand it out eventually.
fn is_free(s: &Session<u32>, tag: Tag) -> bool {
    !s.entries.contains_key(&tag)
}

#[test]
fn victim_reply_before_rflush_is_delivered_and_tag_waits() {
    let mut s = session();
    let now = Instant::now();
    let (v, _, fs) = victim_with_flushes(&mut s, 1, now);
    let a = s.on_reply(v, rread());
    assert!(matches!(
        delivered(&a),
        Some((1, Ok(Rmessage::Rread(_)), None))
    ));
    assert!(
        !is_free(&s, v),
        "victim tag reserved until the Rflush (rule 3)"
    );
    assert_eq!(s.stats().quarantined, 2);
    assert!(s.on_reply(fs[0], rflush()).is_empty());
    assert!(is_free(&s, v) && is_free(&s, fs[0]));
    assert_eq!(s.stats().victims_won, 1);
    assert_eq!(s.stats().quarantined, 0);
}

#[test]
fn rflush_alone_means_never_sent() {
    let mut s = session();
    let (v, _, fs) = victim_with_flushes(&mut s, 1, Instant::now());
    let a = s.on_reply(fs[0], rflush());
    assert!(matches!(
        delivered(&a),
        Some((1, Err(Error::Flushed), None))
    ));
    assert!(is_free(&s, v) && is_free(&s, fs[0]));
    assert_eq!(s.stats().in_flight, 0);
}

#[test]
fn rflush_to_the_last_answers_every_earlier_flush() {
    let mut s = session();
    let (v, _, fs) = victim_with_flushes(&mut s, 3, Instant::now());
    let a = s.on_reply(fs[2], rflush());
    assert!(matches!(
        delivered(&a),
        Some((1, Err(Error::Flushed), None))
    ));
    for t in [v, fs[0], fs[1], fs[2]] {
        assert!(is_free(&s, t), "{t:?} released at once (rule 2)");
    }
}

#[test]
fn rflush_f1_then_victim_reply_then_rflush_f2() {
    let mut s = session();
    let (v, _, fs) = victim_with_flushes(&mut s, 2, Instant::now());
    assert!(s.on_reply(fs[0], rflush()).is_empty(), "F2 still out");
    assert!(is_free(&s, fs[0]));
    assert!(!is_free(&s, v));
    let a = s.on_reply(v, rread());
    assert!(
        matches!(delivered(&a), Some((1, Ok(_), None))),
        "the reply wins (rule 4)"
    );
    assert!(!is_free(&s, v), "reserved until the last Tflush's Rflush");
    assert!(s.on_reply(fs[1], rflush()).is_empty());
    assert!(is_free(&s, v) && is_free(&s, fs[1]));
}

#[test]
fn out_of_order_rflush_and_late_victim_reply_reach_nobody() {
    let mut s = session();
    let (v, _, fs) = victim_with_flushes(&mut s, 3, Instant::now());
    let a = s.on_reply(fs[2], rflush());
    assert!(matches!(
        delivered(&a),
        Some((1, Err(Error::Flushed), None))
    ));
    // Whoever gets the tags next must not see the late answers.
    let late_f1 = s.on_reply(fs[0], rflush());
    assert!(delivered(&late_f1).is_none());
    assert_eq!(violations(&late_f1), 1);
    let late_victim = s.on_reply(v, rread());
    assert!(delivered(&late_victim).is_none());
    assert_eq!(s.stats().order_violations, 2);
    assert!(s.order_violated());
    // From now on a flushed victim keeps its tag for its late reply (rule 7).
    let (v2, _, fs2) = victim_with_flushes(&mut s, 1, Instant::now());
    let a = s.on_reply(fs2[0], rflush());
    assert!(matches!(
        delivered(&a),
        Some((1, Err(Error::Flushed), None))
    ));
    assert!(!is_free(&s, v2), "held for the late reply");
    let a = s.on_reply(v2, rread());
    assert!(delivered(&a).is_none(), "the late reply reaches nobody");
    assert!(is_free(&s, v2));
}

#[test]
fn late_reply_on_a_reused_tag_is_not_delivered_as_its_answer() {
    // Tags are reused oldest-released-first: a victim's tag released by an
    // Rflush is not handed out again until every other free tag has been.
    let mut s: Session<u32> = Session::with_allocators(
        FlushPolicy::default(),
        TagAllocator::with_size(16),
        FidAllocator::new(),
    );
    let (v, _, fs) = victim_with_flushes(&mut s, 1, Instant::now());
    s.on_reply(fs[0], rflush());
    let mut reused = None;
    for w in 10..30 {
        let m = clunk(&mut s);
        let (t, _) = s.start(&m, Some(w)).unwrap();
        if t == v {
            reused = Some(w);
            break;
        }
        s.on_reply(t, Ok(Rclunk {}.into()));
    }
    let w = reused.expect("the tag comes around again");
    // A late Rread for the flushed Tread lands on a Tclunk: caught by type.
    let a = s.on_reply(v, rread());
    assert!(matches!(delivered(&a), Some((x, Err(Error::Protocol(_)), None)) if x == w));
}

#[test]
fn timeouts_reflush_then_give_up_and_quarantine_until_a_late_rflush() {
    let mut s = session();
    let t0 = Instant::now();
    let sec = Duration::from_secs(1);
    let (v, _, fs) = victim_with_flushes(&mut s, 1, t0);
    assert_eq!(s.next_deadline(), Some(t0 + sec));
    assert!(s.on_timeout(t0 + sec / 2).is_empty(), "not yet");
    let f2 = flushes(&s.on_timeout(t0 + sec));
    assert_eq!(f2.len(), 1, "a second Tflush after the timeout");
    let f3 = flushes(&s.on_timeout(t0 + sec * 2));
    assert_eq!(f3.len(), 1);
    let a = s.on_timeout(t0 + sec * 3);
    assert!(matches!(
        delivered(&a),
        Some((1, Err(Error::FlushUnconfirmed), None))
    ));
    assert_eq!(s.next_deadline(), None);
    assert_eq!(s.stats().quarantined, 4, "victim and three flushes");
    assert_eq!(s.stats().flushes_unconfirmed, 1);
    // More cancels do nothing: the policy's maximum was sent.
    assert!(s.cancel(v, 0, t0 + sec * 4).is_empty());
    // A late Rflush to F2 answers F1 and F2; F3 still holds the victim.
    assert!(s.on_reply(f2[0].0, rflush()).is_empty());
    assert!(is_free(&s, fs[0]) && is_free(&s, f2[0].0));
    assert!(!is_free(&s, v));
    assert!(
        s.on_reply(f3[0].0, rflush()).is_empty(),
        "nobody waits any more"
    );
    assert!(is_free(&s, v) && is_free(&s, f3[0].0));
    assert_eq!(s.stats().quarantined, 0);
    assert_eq!(s.stats().in_flight, 0);
}

#[test]
fn each_cancel_sends_one_more_flush_up_to_the_maximum() {
    let mut s = session();
    let now = Instant::now();
    let (v, id, fs) = victim_with_flushes(&mut s, 3, now);
    assert_eq!(fs.len(), 3);
    assert!(s.cancel(v, id, now).is_empty());
    assert_eq!(s.stats().flushes_sent, 3);
}

#[test]
fn error_reply_to_tflush_leaves_the_victim_in_flight() {
    let mut s = session();
    let (v, _, fs) = victim_with_flushes(&mut s, 1, Instant::now());
    let a = s.on_reply(fs[0], rlerror(95));
    assert_eq!(violations(&a), 1);
    assert!(delivered(&a).is_none());
    assert_eq!(s.stats().flush_errors, 1);
    assert!(is_free(&s, fs[0]));
    let a = s.on_reply(v, rread());
    assert!(
        matches!(delivered(&a), Some((1, Ok(_), None))),
        "still served"
    );
    assert!(
        is_free(&s, v),
        "no flush outstanding: the reply frees the tag"
    );
}

#[test]
fn walk_that_wins_the_race_keeps_its_fid_then_clunks_it_when_abandoned() {
    let mut s = session();
    let root = s.alloc_fid().unwrap();
    let newfid = s.alloc_fid().unwrap();
    let (v, id) = s.start(&walk(root, newfid, &["a"]), Some(1)).unwrap();
    // Cancel on drop: the caller is gone, then the flush goes out.
    s.abandon(v, id);
    let f = flushes(&s.cancel(v, id, Instant::now()));
    let a = s.on_reply(v, rwalk(1));
    assert_eq!(clunks(&a), vec![newfid], "the new fid is kept and clunked");
    assert_eq!(s.stats().victims_won, 1);
    s.on_reply(f[0].0, rflush());
    let clunk_tag = match &a[0] {
        Action::Send(t, _) => *t,
        a => panic!("{a:?}"),
    };
    s.on_reply(clunk_tag, Ok(Rclunk {}.into()));
    assert_eq!(s.stats().fids_in_use, 1, "only root");
}

#[test]
fn flushed_walk_frees_its_fid_and_flushed_clunk_is_resent() {
    let mut s = session();
    let root = s.alloc_fid().unwrap();
    let newfid = s.alloc_fid().unwrap();
    let (v, id) = s.start(&walk(root, newfid, &["a"]), Some(1)).unwrap();
    let f = flushes(&s.cancel(v, id, Instant::now()));
    let a = s.on_reply(f[0].0, rflush());
    assert!(matches!(
        delivered(&a),
        Some((1, Err(Error::Flushed), None))
    ));
    assert_eq!(s.stats().fids_in_use, 1, "newfid was never bound");

    let m: Tmessage = Tclunk { fid: root }.into();
    let (v, id) = s.start(&m, Some(2)).unwrap();
    let f = flushes(&s.cancel(v, id, Instant::now()));
    let a = s.on_reply(f[0].0, rflush());
    assert_eq!(
        clunks(&a),
        vec![root],
        "a flushed clunk did not happen: clunk again"
    );
}

#[test]
fn a_table_full_of_quarantined_tags_can_still_cancel() {
    let mut s: Session<u32> = Session::with_allocators(
        FlushPolicy::default(),
        TagAllocator::with_size(16),
        FidAllocator::new(),
    );
    let t0 = Instant::now();
    let mut victims = Vec::new();
    while let Ok((v, id)) = s.start(&read(), Some(1)) {
        victims.push((v, id));
    }
    assert_eq!(victims.len(), 8);
    // Cancel every one: flushes come from the reserve.
    let mut sent = 0;
    for &(v, id) in &victims {
        sent += flushes(&s.cancel(v, id, t0)).len();
    }
    assert_eq!(sent, 8, "the reserve covers one flush per victim");
    assert!(matches!(
        s.start(&read(), Some(2)),
        Err(Error::TagsExhausted(_))
    ));
    // Without an Rflush, nothing is freed: giving up only quarantines.
    let a = s.on_timeout(t0 + Duration::from_secs(60));
    assert!(
        a.iter().all(|a| !matches!(a, Action::Send(..))),
        "no tag left to flush again"
    );
    assert!(matches!(
        s.start(&read(), Some(2)),
        Err(Error::TagsExhausted(_))
    ));
}

#[test]
fn an_orphan_fid_is_clunked_even_when_every_request_tag_is_taken() {
    let mut s: Session<u32> = Session::with_allocators(
        FlushPolicy::default(),
        TagAllocator::with_size(8),
        FidAllocator::new(),
    );
    let root = s.alloc_fid().unwrap();
    let newfid = s.alloc_fid().unwrap();
    let (t, id) = s.start(&walk(root, newfid, &["a"]), Some(1)).unwrap();
    let mut reads = Vec::new();
    while let Ok((r, _)) = s.start(&read(), Some(9)) {
        reads.push(r);
    }
    s.abandon(t, id);
    let f = flushes(&s.cancel(t, id, Instant::now()));
    // The walk wins; its fid is nobody's: a reserve tag carries the Tclunk.
    let a = s.on_reply(t, rwalk(1));
    assert_eq!(clunks(&a), vec![newfid]);
    s.on_reply(f[0].0, rflush());
    let clunk_tag = match a.iter().find(|a| matches!(a, Action::Send(..))) {
        Some(Action::Send(t, _)) => *t,
        _ => unreachable!(),
    };
    s.on_reply(clunk_tag, Ok(Rclunk {}.into()));
    assert_eq!(s.stats().fids_in_use, 1, "only root is left");
}

#[test]
fn with_no_tag_at_all_the_clunk_waits_for_one() {
    let mut s: Session<u32> = Session::with_allocators(
        FlushPolicy::default(),
        TagAllocator::with_size(4),
        FidAllocator::new(),
    );
    let root = s.alloc_fid().unwrap();
    let newfid = s.alloc_fid().unwrap();
    let (t, id) = s.start(&walk(root, newfid, &["a"]), Some(1)).unwrap();
    let (r, _) = s.start(&read(), Some(2)).unwrap();
    s.abandon(t, id);
    let f1 = flushes(&s.cancel(t, id, Instant::now()));
    let f2 = flushes(&s.cancel(t, id, Instant::now()));
    assert_eq!((f1.len(), f2.len()), (1, 1), "both reserve tags in use");
    let a = s.on_reply(t, rwalk(1));
    assert!(clunks(&a).is_empty(), "no tag free yet");
    let a = s.on_reply(r, rread());
    assert_eq!(clunks(&a), vec![newfid], "sent as soon as a tag frees");
}

#[test]
fn no_tag_for_a_flush_moves_the_deadline_instead_of_spinning() {
    // Found by the session fuzz target: 2 tags, one flush in flight.
    let mut s: Session<u32> = Session::with_allocators(
        FlushPolicy {
            timeout: Duration::from_secs(1),
            max_flushes: 2,
        },
        TagAllocator::with_size(2),
        FidAllocator::new(),
    );
    let t0 = Instant::now();
    let (v, id) = s.start(&read(), Some(1)).unwrap();
    assert_eq!(flushes(&s.cancel(v, id, t0)).len(), 1);
    let later = t0 + Duration::from_millis(1095);
    let a = s.on_timeout(later);
    assert_eq!(violations(&a), 1, "no tag for the second Tflush");
    assert!(
        s.next_deadline().is_some_and(|d| d > later),
        "the timer must not spin"
    );
}
