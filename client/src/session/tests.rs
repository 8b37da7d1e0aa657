//! Requests without flushes: replies, violations, fid effects.

use super::*;
use crate::alloc::{FidAllocator, TagAllocator};
use crate::wire::*;

pub(super) fn session() -> Session<u32> {
    Session::new(FlushPolicy::default())
}

pub(super) fn walk(fid: Fid, newfid: Fid, names: &[&str]) -> Tmessage {
    Twalk {
        fid,
        newfid,
        wname: names.iter().map(|n| NineStr::from(*n)).collect(),
    }
    .into()
}

pub(super) fn rwalk(n: usize) -> Result<Rmessage, DecodeError> {
    Ok(Rwalk {
        wqid: vec![Qid::default(); n],
    }
    .into())
}

pub(super) fn rlerror(e: u32) -> Result<Rmessage, DecodeError> {
    Ok(Rlerror { ecode: e }.into())
}

/// A Tclunk of a freshly allocated fid.
pub(super) fn clunk(s: &mut Session<u32>) -> Tmessage {
    Tclunk {
        fid: s.alloc_fid().unwrap(),
    }
    .into()
}

pub(super) fn read() -> Tmessage {
    Tread {
        fid: Fid(0),
        offset: 0,
        count: 1,
    }
    .into()
}

/// The one Deliver among `actions`: (waiter, result, bound).
pub(super) fn delivered(
    actions: &[Action<u32>],
) -> Option<(u32, &Result<Rmessage, Error>, Option<Fid>)> {
    let mut it = actions.iter().filter_map(|a| match a {
        Action::Deliver {
            waiter,
            result,
            bound,
        } => Some((*waiter, result, *bound)),
        _ => None,
    });
    let d = it.next();
    assert!(it.next().is_none(), "delivered twice: {actions:?}");
    d
}

/// Fids clunked by `actions`.
pub(super) fn clunks(actions: &[Action<u32>]) -> Vec<Fid> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(_, Tmessage::Tclunk(c)) => Some(c.fid),
            _ => None,
        })
        .collect()
}

pub(super) fn violations(actions: &[Action<u32>]) -> usize {
    actions
        .iter()
        .filter(|a| matches!(a, Action::Violation(_)))
        .count()
}

#[test]
fn reply_reaches_its_waiter_and_frees_the_tag() {
    let mut s = session();
    let (t1, _) = s.start(&read(), Some(1)).unwrap();
    let (t2, _) = s.start(&read(), Some(2)).unwrap();
    assert_ne!(t1, t2);
    let a = s.on_reply(
        t2,
        Ok(Rread {
            data: Data::default(),
        }
        .into()),
    );
    let (w, r, bound) = delivered(&a).unwrap();
    assert_eq!((w, bound), (2, None));
    assert!(matches!(r, Ok(Rmessage::Rread(_))));
    assert_eq!(s.stats().in_flight, 1);
}

#[test]
fn reply_on_unknown_or_answered_tag_is_a_violation() {
    let mut s = session();
    let (t, _) = s.start(&read(), Some(1)).unwrap();
    assert_eq!(violations(&s.on_reply(Tag(999), Ok(Rclunk {}.into()))), 1);
    assert!(delivered(
        &s.on_reply(
            t,
            Ok(Rread {
                data: Data::default()
            }
            .into())
        )
    )
    .is_some());
    let dup = s.on_reply(
        t,
        Ok(Rread {
            data: Data::default(),
        }
        .into()),
    );
    assert!(delivered(&dup).is_none());
    assert_eq!(violations(&dup), 1);
    assert_eq!(s.stats().unknown_tag_replies, 2);
}

#[test]
fn wrong_reply_type_fails_the_request_but_a_stray_rflush_does_not() {
    let mut s = session();
    let (t, _) = s.start(&read(), Some(7)).unwrap();
    let a = s.on_reply(t, Ok(Rflush {}.into()));
    assert!(delivered(&a).is_none(), "a stray Rflush answers nothing");
    let a = s.on_reply(t, Ok(Rclunk {}.into()));
    assert!(matches!(
        delivered(&a),
        Some((7, Err(Error::Protocol(_)), None))
    ));
    assert_eq!(s.stats().mismatched_replies, 2);
    assert_eq!(s.stats().in_flight, 0);
}

#[test]
fn error_replies_become_remote_errors() {
    let mut s = session();
    let (t, _) = s.start(&read(), Some(1)).unwrap();
    let a = s.on_reply(t, rlerror(2));
    assert_eq!(
        delivered(&a).unwrap().1.as_ref().unwrap_err().errno(),
        Some(2)
    );
    let (t, _) = s.start(&read(), Some(1)).unwrap();
    let e = Rerror {
        ename: "file not found".into(),
        errno: None,
    };
    match delivered(&s.on_reply(t, Ok(e.into()))).unwrap().1 {
        Err(Error::Remote(r)) => assert_eq!(r.ename.as_deref(), Some("file not found")),
        r => panic!("{r:?}"),
    }
}

#[test]
fn walk_fids_are_bound_only_by_a_full_walk() {
    let mut s = session();
    let root = s.alloc_fid().unwrap();
    for (reply, binds) in [(rwalk(2), true), (rwalk(1), false), (rlerror(2), false)] {
        let before = s.stats().fids_in_use;
        let newfid = s.alloc_fid().unwrap();
        let (t, _) = s.start(&walk(root, newfid, &["a", "b"]), Some(1)).unwrap();
        let a = s.on_reply(t, reply);
        assert_eq!(delivered(&a).unwrap().2, binds.then_some(newfid));
        assert!(clunks(&a).is_empty());
        assert_eq!(s.stats().fids_in_use, before + binds as usize);
    }
}

#[test]
fn walk_with_more_qids_than_names_fails_and_clunks() {
    let mut s = session();
    let root = s.alloc_fid().unwrap();
    let newfid = s.alloc_fid().unwrap();
    let (t, _) = s.start(&walk(root, newfid, &["a"]), Some(1)).unwrap();
    let a = s.on_reply(t, rwalk(3));
    assert!(matches!(
        delivered(&a),
        Some((1, Err(Error::Protocol(_)), None))
    ));
    assert_eq!(clunks(&a), vec![newfid]);
}

#[test]
fn abandoned_walk_hands_back_its_fid_to_clunk() {
    let mut s = session();
    let root = s.alloc_fid().unwrap();
    let newfid = s.alloc_fid().unwrap();
    let (t, id) = s.start(&walk(root, newfid, &["a"]), Some(1)).unwrap();
    assert_eq!(
        s.abandon(t, id + 1),
        None,
        "another use of the tag is left alone"
    );
    assert_eq!(s.abandon(t, id), Some(1));
    assert_eq!(
        s.stats().in_flight,
        1,
        "the tag stays reserved until the reply"
    );
    let a = s.on_reply(t, rwalk(1));
    assert!(delivered(&a).is_none());
    assert_eq!(clunks(&a), vec![newfid]);
}

#[test]
fn clunk_frees_its_fid_on_any_reply() {
    let mut s = session();
    let m = clunk(&mut s);
    let (t, _) = s.start(&m, None).unwrap();
    assert_eq!(
        s.stats().fids_in_use,
        1,
        "not reused while the clunk is in flight"
    );
    let a = s.on_reply(t, rlerror(9));
    assert!(a.is_empty(), "{a:?}");
    assert_eq!(s.stats().fids_in_use, 0);
}

#[test]
fn exhaustion_is_an_error_and_fail_all_drains() {
    let mut s: Session<u32> = Session::with_allocators(
        FlushPolicy::default(),
        TagAllocator::with_size(4),
        FidAllocator::with_limit(1),
    );
    assert!(s.start(&read(), Some(1)).is_ok());
    assert!(s.start(&read(), Some(2)).is_ok());
    assert!(matches!(
        s.start(&read(), Some(3)),
        Err(Error::TagsExhausted(2))
    ));
    assert!(s.alloc_fid().is_ok());
    assert!(matches!(s.alloc_fid(), Err(Error::FidsExhausted)));
    let mut w = s.fail_all();
    w.sort();
    assert_eq!(w, vec![1, 2]);
    assert!(s.start(&read(), Some(4)).is_ok(), "tags are free again");
}

#[test]
fn undecodable_reply_fails_only_its_request() {
    let mut s = session();
    let (t, _) = s.start(&read(), Some(1)).unwrap();
    let a = s.on_reply(t, Err(DecodeError::TrailingBytes(3)));
    assert!(matches!(
        delivered(&a),
        Some((1, Err(Error::Decode(_)), None))
    ));
    assert_eq!(s.stats().in_flight, 0);
}

#[test]
fn a_placed_read_is_an_rread_without_data_counted_in_full() {
    let mut s = session();
    let (tag, _) = s.start(&read(), Some(7)).unwrap();
    assert_eq!(s.waiter(tag), Some(&7));
    let now = Instant::now();
    let actions = s.on_placed_read_at(tag, 4096, now);
    let (w, result, _) = delivered(&actions).expect("delivered");
    assert_eq!(w, 7);
    assert!(matches!(result, Ok(Rmessage::Rread(r)) if r.data.0.is_empty()));
    assert_eq!(s.traffic().bytes_read, 4096);
    assert_eq!(s.waiter(tag), None, "answered: the tag is free");
    // An abandoned caller has no waiter to place data for.
    let (tag, id) = s.start(&read(), Some(8)).unwrap();
    s.abandon(tag, id);
    assert_eq!(s.waiter(tag), None);
}
