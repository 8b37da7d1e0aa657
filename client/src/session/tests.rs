use super::*;
use crate::alloc::{FidAllocator, TagAllocator};
use crate::wire::*;

fn walk(fid: u32, newfid: Fid, names: &[&str]) -> Tmessage {
    Twalk {
        fid: Fid(fid),
        newfid,
        wname: names.iter().map(|n| NineStr::from(*n)).collect(),
    }
    .into()
}

fn rwalk(n: usize) -> Result<Rmessage, DecodeError> {
    Ok(Rwalk {
        wqid: vec![Qid::default(); n],
    }
    .into())
}

fn rlerror(e: u32) -> Result<Rmessage, DecodeError> {
    Ok(Rlerror { ecode: e }.into())
}

/// A Tclunk of a freshly allocated fid.
fn clunk(s: &mut Session<u32>) -> Tmessage {
    Tclunk {
        fid: s.alloc_fid().unwrap(),
    }
    .into()
}

#[test]
fn reply_reaches_its_waiter_and_frees_the_tag() {
    let mut s: Session<u32> = Session::new();
    let m = clunk(&mut s);
    let (t1, _) = s.start(&m, Some(1)).unwrap();
    let m = clunk(&mut s);
    let (t2, _) = s.start(&m, Some(2)).unwrap();
    assert_ne!(t1, t2);
    match s.on_reply(t2, Ok(Rclunk {}.into())) {
        Delivery::Deliver {
            waiter: 2,
            result: Ok(Rmessage::Rclunk(_)),
            clunk: None,
            bound: None,
        } => {}
        d => panic!("{d:?}"),
    }
    assert_eq!(s.stats().in_flight, 1);
}

#[test]
fn reply_on_unknown_or_answered_tag_is_a_violation() {
    let mut s: Session<u32> = Session::new();
    let m = clunk(&mut s);
    let (t, _) = s.start(&m, Some(1)).unwrap();
    assert!(matches!(
        s.on_reply(Tag(999), Ok(Rclunk {}.into())),
        Delivery::Violation(_)
    ));
    assert!(matches!(
        s.on_reply(t, Ok(Rclunk {}.into())),
        Delivery::Deliver { .. }
    ));
    assert!(matches!(
        s.on_reply(t, Ok(Rclunk {}.into())),
        Delivery::Violation(_)
    ));
    assert_eq!(s.stats().unknown_tag_replies, 2);
}

#[test]
fn wrong_reply_type_fails_the_request() {
    let mut s: Session<u32> = Session::new();
    let m = clunk(&mut s);
    let (t, _) = s.start(&m, Some(7)).unwrap();
    match s.on_reply(t, Ok(Rflush {}.into())) {
        Delivery::Deliver {
            waiter: 7,
            result: Err(Error::Protocol(_)),
            ..
        } => {}
        d => panic!("{d:?}"),
    }
    assert_eq!(s.stats().mismatched_replies, 1);
    assert_eq!(s.stats().in_flight, 0);
}

#[test]
fn error_replies_become_remote_errors() {
    let mut s: Session<u32> = Session::new();
    let m = clunk(&mut s);
    let (t, _) = s.start(&m, Some(1)).unwrap();
    match s.on_reply(t, rlerror(2)) {
        Delivery::Deliver {
            result: Err(Error::Remote(r)),
            ..
        } => assert_eq!(r.errno, Some(2)),
        d => panic!("{d:?}"),
    }
    let m = clunk(&mut s);
    let (t, _) = s.start(&m, Some(1)).unwrap();
    let e = Rerror {
        ename: "file not found".into(),
        errno: None,
    };
    match s.on_reply(t, Ok(e.into())) {
        Delivery::Deliver {
            result: Err(Error::Remote(r)),
            ..
        } => {
            assert_eq!(r.ename.as_deref(), Some("file not found"))
        }
        d => panic!("{d:?}"),
    }
}

#[test]
fn walk_fids_are_bound_only_by_a_full_walk() {
    let mut s: Session<u32> = Session::new();
    let root = s.alloc_fid().unwrap();
    for (reply, binds) in [(rwalk(2), true), (rwalk(1), false), (rlerror(2), false)] {
        let before = s.stats().fids_in_use;
        let newfid = s.alloc_fid().unwrap();
        let (t, _) = s
            .start(&walk(root.0, newfid, &["a", "b"]), Some(1))
            .unwrap();
        let d = s.on_reply(t, reply);
        match d {
            Delivery::Deliver {
                clunk: None, bound, ..
            } => assert_eq!(bound, binds.then_some(newfid)),
            d => panic!("{d:?}"),
        }
        assert_eq!(s.stats().fids_in_use, before + binds as usize);
    }
}

#[test]
fn walk_with_more_qids_than_names_fails_and_clunks() {
    let mut s: Session<u32> = Session::new();
    let _root = s.alloc_fid().unwrap();
    let newfid = s.alloc_fid().unwrap();
    let (t, _) = s.start(&walk(0, newfid, &["a"]), Some(1)).unwrap();
    match s.on_reply(t, rwalk(3)) {
        Delivery::Deliver {
            result: Err(Error::Protocol(_)),
            clunk: Some(f),
            ..
        } => {
            assert_eq!(f, newfid)
        }
        d => panic!("{d:?}"),
    }
}

#[test]
fn abandoned_walk_hands_back_its_fid_to_clunk() {
    let mut s: Session<u32> = Session::new();
    let _root = s.alloc_fid().unwrap();
    let newfid = s.alloc_fid().unwrap();
    let (t, id) = s.start(&walk(0, newfid, &["a"]), Some(1)).unwrap();
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
    match s.on_reply(t, rwalk(1)) {
        Delivery::Orphan { clunk: Some(f) } => assert_eq!(f, newfid),
        d => panic!("{d:?}"),
    }
}

#[test]
fn clunk_frees_its_fid_on_any_reply() {
    let mut s: Session<u32> = Session::new();
    let fid = s.alloc_fid().unwrap();
    let (t, _) = s.start(&Tclunk { fid }.into(), None).unwrap();
    assert_eq!(
        s.stats().fids_in_use,
        1,
        "not reused while the clunk is in flight"
    );
    assert!(matches!(
        s.on_reply(t, rlerror(9)),
        Delivery::Orphan { clunk: None }
    ));
    assert_eq!(s.stats().fids_in_use, 0);
}

#[test]
fn exhaustion_is_an_error_and_fail_all_drains() {
    let mut s: Session<u32> =
        Session::with_allocators(TagAllocator::with_size(4), FidAllocator::with_limit(1));
    let msg: Tmessage = Tread {
        fid: Fid(1),
        offset: 0,
        count: 1,
    }
    .into();
    assert!(s.start(&msg, Some(1)).is_ok());
    assert!(s.start(&msg, Some(2)).is_ok());
    assert!(matches!(
        s.start(&msg, Some(3)),
        Err(Error::TagsExhausted(2))
    ));
    assert!(s.alloc_fid().is_ok());
    assert!(matches!(s.alloc_fid(), Err(Error::FidsExhausted)));
    let mut w = s.fail_all();
    w.sort();
    assert_eq!(w, vec![1, 2]);
    assert!(s.start(&msg, Some(4)).is_ok(), "tags are free again");
}

#[test]
fn undecodable_reply_fails_only_its_request() {
    let mut s: Session<u32> = Session::new();
    let m = clunk(&mut s);
    let (t, _) = s.start(&m, Some(1)).unwrap();
    let e = DecodeError::TrailingBytes(3);
    assert!(matches!(
        s.on_reply(t, Err(e)),
        Delivery::Deliver {
            result: Err(Error::Decode(_)),
            ..
        }
    ));
    assert_eq!(s.stats().in_flight, 0);
}
