//! Tests of the wire codec.
//!
//! # Layout
//! - `golden_linux`: hand-written frames of the 9P2000.L messages.
//! - `golden_classic`: hand-written frames of the messages 9P2000.L shares
//!   with 9P2000, and of the 9P2000 / 9P2000.u messages, in each form.
//! - `roundtrip`: the golden table re-run as round trips (other tags, msize
//!   at the limit, frames back to back), dialect-dependent fields, the
//!   nfs-ganesha error form and directory payloads.
//! - `frame`: framing: size checks, partial frames, hostile counts.
//! - `strategies`: proptest strategies for every message of every dialect.
//! - `prop`: property tests over arbitrary messages and arbitrary bytes.
//!
//! The golden table here is the single list of example messages: the
//! golden test, the round trips and the partial-frame test all walk it.

use bytes::BytesMut;
use std::collections::BTreeSet;
use std::fmt::Debug;

use super::*;
use crate::ids::Tag;

mod frame;
mod golden_classic;
mod golden_linux;
mod prop;
mod roundtrip;
mod strategies;

/// msize used where the test is not about msize.
const MSIZE: u32 = 8192;

/// Every dialect.
const ALL: &[Dialect] = &[Dialect::L, Dialect::U, Dialect::Classic];
/// Only 9P2000.L.
const LINUX: &[Dialect] = &[Dialect::L];
/// The dialects with the Unix extensions, where an `Option` field is `Some`.
const UNIX: &[Dialect] = &[Dialect::L, Dialect::U];
/// The Plan 9 dialects, for messages 9P2000.L dropped.
const PLAN9: &[Dialect] = &[Dialect::U, Dialect::Classic];
/// Only 9P2000.u.
const U_ONLY: &[Dialect] = &[Dialect::U];
/// Only plain 9P2000, where every `Option` field is `None`.
const CLASSIC: &[Dialect] = &[Dialect::Classic];

/// A directory qid: `80 01000000 0200000000000000`.
const QD: Qid = Qid {
    ty: Qid::QTDIR,
    version: 1,
    path: 2,
};
/// A file qid: `00 03000000 0807060504030201`.
const QF: Qid = Qid {
    ty: Qid::QTFILE,
    version: 3,
    path: 0x0102_0304_0506_0708,
};

/// One example message, its tag, its exact frame and where it applies.
struct Case<M> {
    tag: u16,
    dialects: &'static [Dialect],
    msg: M,
    bytes: Vec<u8>,
}

fn case<M, T: Into<M>>(tag: u16, dialects: &'static [Dialect], msg: T, bytes: &[u8]) -> Case<M> {
    Case {
        tag,
        dialects,
        msg: msg.into(),
        bytes: bytes.to_vec(),
    }
}

fn t_cases() -> Vec<Case<Tmessage>> {
    let mut v = golden_linux::t_cases();
    v.extend(golden_classic::t_cases());
    v
}

fn r_cases() -> Vec<Case<Rmessage>> {
    let mut v = golden_linux::r_cases();
    v.extend(golden_classic::r_cases());
    v
}

fn s(text: &str) -> NineStr {
    NineStr::from(text)
}

fn data(bytes: &'static [u8]) -> Data {
    Data(bytes::Bytes::from_static(bytes))
}

fn encode<M: Message>(tag: u16, msg: &M) -> BytesMut {
    let mut buf = BytesMut::new();
    encode_frame(Tag(tag), msg, &mut buf);
    buf
}

/// Decode exactly one whole frame that must be valid, consuming all of `bytes`.
fn decode_one<M: Message + Debug>(bytes: &[u8], msize: u32, dialect: Dialect) -> (Tag, M) {
    let mut buf = BytesMut::from(bytes);
    let (tag, msg) = decode_frame::<M>(&mut buf, msize, dialect)
        .expect("frame header")
        .expect("a whole frame");
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    (tag, msg.expect("frame body"))
}

/// `msg` with `tag` encodes to exactly `bytes`, and `bytes` decode to `msg`
/// and `tag` under `dialect`.
fn golden<M: Message + PartialEq + Debug>(tag: u16, msg: &M, dialect: Dialect, bytes: &[u8]) {
    let buf = encode(tag, msg);
    assert_eq!(&buf[..], bytes, "encoding of {msg:?} under {dialect}");
    assert_eq!(buf.len(), HEADER_LEN + msg.body_len(), "{msg:?}");
    let (t, m) = decode_one::<M>(bytes, MSIZE, dialect);
    assert_eq!(t, Tag(tag), "tag of {msg:?} under {dialect}");
    assert_eq!(&m, msg, "decoding under {dialect}");
}

#[test]
fn golden_tmessages() {
    for c in t_cases() {
        for &d in c.dialects {
            golden(c.tag, &c.msg, d, &c.bytes);
        }
    }
}

#[test]
fn golden_rmessages() {
    for c in r_cases() {
        for &d in c.dialects {
            golden(c.tag, &c.msg, d, &c.bytes);
        }
    }
}

/// The type codes `M` knows under `dialect`: those whose empty body fails
/// with anything but `UnknownType`. Found by probing, so a message added to
/// the enums is noticed here without a list to keep in step.
fn known_codes<M: Message>(dialect: Dialect) -> BTreeSet<u8> {
    (0..=u8::MAX)
        .filter(|&ty| {
            let mut buf = BytesMut::from(&[7, 0, 0, 0, ty, 0, 0][..]);
            let (_, body) = decode_frame::<M>(&mut buf, MSIZE, dialect)
                .unwrap()
                .unwrap();
            !matches!(body, Err(DecodeError::UnknownType(_)))
        })
        .collect()
}

/// Every message of both enums has a golden frame, in every dialect
/// where an `Option` field changes its form.
#[test]
fn every_type_code_has_a_golden_case() {
    for d in ALL.iter().copied() {
        let t: BTreeSet<u8> = t_cases().iter().map(|c| c.msg.ty()).collect();
        assert_eq!(t, known_codes::<Tmessage>(d), "Tmessage codes under {d}");
        let r: BTreeSet<u8> = r_cases().iter().map(|c| c.msg.msg_type()).collect();
        assert_eq!(r, known_codes::<Rmessage>(d), "Rmessage codes under {d}");
    }
    assert_eq!(known_codes::<Tmessage>(Dialect::L).len(), 32);
    assert_eq!(known_codes::<Rmessage>(Dialect::L).len(), 34);
    for name in ["Tauth", "Tattach", "Tcreate", "Twstat"] {
        for d in [Dialect::U, Dialect::Classic] {
            let found = t_cases()
                .iter()
                .any(|c| c.msg.name() == name && c.dialects.contains(&d));
            assert!(found, "no golden {name} under {d}");
        }
    }
    for name in ["Rerror", "Rstat"] {
        for d in [Dialect::U, Dialect::Classic] {
            let found = r_cases()
                .iter()
                .any(|c| c.msg.name() == name && c.dialects.contains(&d));
            assert!(found, "no golden {name} under {d}");
        }
    }
}

/// Reply codes are request codes + 1 (Rlerror and Rerror aside).
#[test]
fn reply_codes_follow_requests() {
    let t = known_codes::<Tmessage>(Dialect::L);
    let r = known_codes::<Rmessage>(Dialect::L);
    for code in &t {
        assert!(r.contains(&(code + 1)), "no reply for type {code}");
    }
    let errors: BTreeSet<u8> = r
        .iter()
        .copied()
        .filter(|c| !t.contains(&(c - 1)))
        .collect();
    assert_eq!(
        errors,
        BTreeSet::from([msg_type::RLERROR, msg_type::RERROR])
    );
}
