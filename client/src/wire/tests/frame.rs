//! Framing: the size field, partial frames, bodies that do not fit their
//! frame, and counts that claim more than the frame holds.

use super::*;
use crate::ids::Tag;
use bytes::Bytes;

fn decode_r(bytes: &[u8], d: Dialect) -> Result<Option<Frame<Rmessage>>, DecodeError> {
    decode_frame::<Rmessage>(&mut BytesMut::from(bytes), MSIZE, d)
}

/// The body's result of a frame whose header is fine.
fn body_r(bytes: &[u8]) -> Result<Rmessage, DecodeError> {
    let (tag, body) = decode_r(bytes, Dialect::L).unwrap().unwrap();
    assert_eq!(tag, Tag(1));
    body
}

#[test]
fn size_field_below_header_is_an_error() {
    for size in 0..MIN_FRAME {
        let got = decode_r(&size.to_le_bytes(), Dialect::L);
        assert_eq!(got, Err(DecodeError::FrameTooSmall(size)));
    }
}

/// 4 GiB claimed against msize 8192: refused on the size field alone,
/// without reserving anything for the body.
#[test]
fn huge_size_field_fails_at_once() {
    let mut buf = BytesMut::from(&[0xff, 0xff, 0xff, 0xff][..]);
    let got = decode_frame::<Rmessage>(&mut buf, 8192, Dialect::L);
    let want = DecodeError::FrameTooLarge {
        size: u32::MAX,
        msize: 8192,
    };
    assert_eq!(got, Err(want));
    assert!(buf.capacity() < 1024, "reserved {}", buf.capacity());
}

#[test]
fn size_field_at_msize_is_accepted() {
    let mut frame = vec![0u8; 8192];
    frame[..7].copy_from_slice(&[0, 0x20, 0, 0, msg_type::RREAD, 1, 0]);
    frame[7..11].copy_from_slice(&(8192u32 - 11).to_le_bytes());
    let m = body_r(&frame).unwrap();
    assert!(matches!(m, Rmessage::Rread(Rread { data }) if data.0.len() == 8181));
    frame.push(0);
    frame[0] = 1; // 8193
    let got = decode_r(&frame, Dialect::L);
    let want = DecodeError::FrameTooLarge {
        size: 8193,
        msize: 8192,
    };
    assert_eq!(got, Err(want));
}

/// Every proper prefix of every golden frame waits for more and leaves the
/// buffer as it was; the rest of the frame then completes it.
#[test]
fn partial_frames_wait() {
    fn check<M: Message + PartialEq + Debug>(cases: Vec<Case<M>>) {
        for c in cases {
            let d = c.dialects[0];
            for n in 0..c.bytes.len() {
                let mut buf = BytesMut::from(&c.bytes[..n]);
                assert_eq!(
                    decode_frame::<M>(&mut buf, MSIZE, d),
                    Ok(None),
                    "prefix {n}"
                );
                assert_eq!(buf[..], c.bytes[..n]);
                buf.extend_from_slice(&c.bytes[n..]);
                let (tag, m) = decode_frame::<M>(&mut buf, MSIZE, d).unwrap().unwrap();
                assert_eq!(tag, Tag(c.tag));
                assert_eq!(m.unwrap(), c.msg);
                assert!(buf.is_empty());
            }
        }
    }
    check(t_cases());
    check(r_cases());
}

/// A bad body is reported with its tag and the stream stays in sync.
#[rustfmt::skip]
#[test]
fn bad_body_keeps_framing() {
    let bytes: &[u8] = &[
        8,0,0,0, 121, 1,0, 0xaa,    // Rclunk with 1 stray byte
        7,0,0,0, 0, 2,0,            // type 0: not a message
        7,0,0,0, 6, 3,0,            // type 6 (there is no Tlerror)
        7,0,0,0, 121, 4,0,          // a good Rclunk
    ];
    let mut buf = BytesMut::from(bytes);
    let mut next = || decode_frame::<Rmessage>(&mut buf, MSIZE, Dialect::L).unwrap().unwrap();
    assert_eq!(next(), (Tag(1), Err(DecodeError::TrailingBytes(1))));
    assert_eq!(next(), (Tag(2), Err(DecodeError::UnknownType(0))));
    assert_eq!(next(), (Tag(3), Err(DecodeError::UnknownType(6))));
    assert_eq!(next(), (Tag(4), Ok(Rmessage::Rclunk(Rclunk {}))));
}

/// Counts that claim more than the frame holds fail as `Truncated`, after
/// at most the frame's worth of work: nothing is reserved from a count.
#[rustfmt::skip]
#[test]
fn hostile_counts_are_truncated() {
    // Rread claiming 4 GiB, holding 3 bytes.
    let rread: &[u8] = &[
        14,0,0,0, 117, 1,0,     // size 14, Rread, tag 1
        0xff,0xff,0xff,0xff,    // count 0xFFFFFFFF
        b'a',b'b',b'c',         // 3 bytes of data
    ];
    let want = DecodeError::Truncated { what: "data", need: 0xFFFF_FFFF, have: 3 };
    assert_eq!(body_r(rread), Err(want));

    // Rwalk claiming 65535 qids, holding 2.
    let mut rwalk = vec![
        35,0,0,0, 111, 1,0,     // size 35, Rwalk, tag 1
        0xff,0xff,              // nwqid 65535
    ];
    rwalk.extend_from_slice(&[0x80, 1,0,0,0, 2,0,0,0,0,0,0,0]); // qid
    rwalk.extend_from_slice(&[0, 3,0,0,0, 8,7,6,5,4,3,2,1]);    // qid
    let want = DecodeError::Truncated { what: "u8", need: 1, have: 0 };
    assert_eq!(body_r(&rwalk), Err(want));

    // A string claiming 65535 bytes, holding 3.
    let rreadlink: &[u8] = &[
        12,0,0,0, 23, 1,0,      // size 12, Rreadlink, tag 1
        0xff,0xff,              // target length 65535
        b'a',b'b',b'c',         // 3 bytes
    ];
    let want = DecodeError::Truncated { what: "string", need: 65535, have: 3 };
    assert_eq!(body_r(rreadlink), Err(want));

    // A stat claiming 65535 bytes, holding none.
    let rstat: &[u8] = &[
        11,0,0,0, 125, 1,0,     // size 11, Rstat, tag 1
        2,0,                    // n 2
        0xff,0xff,              // stat size 65535
    ];
    let want = DecodeError::Truncated { what: "stat", need: 65535, have: 0 };
    assert_eq!(body_r(rstat), Err(want));

    // Rreaddir claiming 4 GiB of entries, holding none.
    let rreaddir: &[u8] = &[11,0,0,0, 41, 1,0, 0xff,0xff,0xff,0xff];
    assert!(matches!(body_r(rreaddir), Err(DecodeError::Truncated { what: "data", .. })));

    // Twalk claiming 65535 names, holding one.
    let twalk: &[u8] = &[
        20,0,0,0, 110, 1,0,     // size 20, Twalk, tag 1
        0,0,0,0, 1,0,0,0,       // fid 0, newfid 1
        0xff,0xff,              // nwname 65535
        1,0, b'a',              // wname "a"
    ];
    let mut buf = BytesMut::from(twalk);
    let (_, body) = decode_frame::<Tmessage>(&mut buf, MSIZE, Dialect::L).unwrap().unwrap();
    let want = DecodeError::Truncated { what: "u16", need: 2, have: 0 };
    assert_eq!(body, Err(want));
}

/// Rstat's outer count must be the stat's own size + 2.
#[rustfmt::skip]
#[test]
fn rstat_count_must_match_stat() {
    let mut frame = encode(1, &Rmessage::from(Rstat {
        stat: WrappedStat(super::golden_classic::file_stat(None)),
    }));
    assert_eq!(frame[..9], [62,0,0,0, 125, 1,0, 53,0]);
    frame[0] = 63; // one more byte in the frame
    frame[7] = 54; // and in the outer count, but not in the stat
    frame.extend_from_slice(&[0]);
    let (_, body) = decode_r(&frame, Dialect::Classic).unwrap().unwrap();
    assert_eq!(body, Err(DecodeError::BadLength("stat count")));
}

#[test]
fn peek_rread_names_only_well_formed_rreads() {
    let mut buf = BytesMut::new();
    encode_frame(
        Tag(9),
        &Rmessage::from(Rread {
            data: Data(Bytes::from_static(b"abc")),
        }),
        &mut buf,
    );
    let whole = buf.to_vec();
    assert_eq!(peek_rread(&whole, 64), Some((Tag(9), 3)));
    // The header alone is enough; less is not.
    assert_eq!(peek_rread(&whole[..RREAD_HEAD], 64), Some((Tag(9), 3)));
    assert_eq!(peek_rread(&whole[..RREAD_HEAD - 1], 64), None);
    // Over msize, a count that disagrees with the size, another type.
    assert_eq!(peek_rread(&whole, 13), None);
    let mut bad = whole.clone();
    bad[7] = 4;
    assert_eq!(peek_rread(&bad, 64), None);
    let mut other = whole;
    other[4] = msg_type::RREADDIR;
    assert_eq!(peek_rread(&other, 64), None);
}

#[test]
fn split_twrites_are_the_same_bytes() {
    for len in [0, 10, SPLIT_MIN - 1, SPLIT_MIN, 65536] {
        let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let msg = Tmessage::from(Twrite {
            fid: crate::ids::Fid(7),
            offset: 1 << 40,
            data: Data(data.into()),
        });
        let mut whole = BytesMut::from(&b"before"[..]);
        encode_frame(Tag(3), &msg, &mut whole);
        let mut split = BytesMut::from(&b"before"[..]);
        let rest = encode_frame_split(Tag(3), &msg, &mut split);
        assert_eq!(rest.is_some(), len >= SPLIT_MIN, "{len}");
        split.extend_from_slice(&rest.unwrap_or_default());
        assert_eq!(split, whole, "{len}");
    }
    // Anything else goes whole into the buffer.
    let msg = Tmessage::from(Tclunk {
        fid: crate::ids::Fid(1),
    });
    assert!(encode_frame_split(Tag(1), &msg, &mut BytesMut::new()).is_none());
}
