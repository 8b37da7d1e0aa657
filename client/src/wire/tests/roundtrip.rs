//! The golden table as round trips, and the dialect-dependent decodings.

use bytes::{BufMut, Bytes};

use super::golden_classic::file_stat;
use super::*;
use crate::ids::Tag;

/// Every example, under every dialect where it applies, with several tags
/// and msize at exactly the frame length (accepted) and one below (refused).
fn round_trips<M: Message + PartialEq + Debug>(cases: Vec<Case<M>>) {
    for c in cases {
        for &d in c.dialects {
            for tag in [0, 1, 0x7FFF, 0xFFFE, 0xFFFF] {
                let buf = encode(tag, &c.msg);
                assert_eq!(buf.len(), HEADER_LEN + c.msg.body_len());
                assert_eq!(buf[7..], c.bytes[7..], "{:?}", c.msg);
                let len = buf.len() as u32;
                let (t, m) = decode_one::<M>(&buf, len, d);
                assert_eq!((t, &m), (Tag(tag), &c.msg), "under {d}");
                let dec = FrameDecoder {
                    msize: len - 1,
                    dialect: d,
                };
                let too_large = DecodeError::FrameTooLarge {
                    size: len,
                    msize: len - 1,
                };
                assert_eq!(dec.decode::<M>(&mut buf.clone()), Err(too_large));
            }
        }
    }
}

#[test]
fn tmessages_round_trip() {
    round_trips(t_cases());
}

#[test]
fn rmessages_round_trip() {
    round_trips(r_cases());
}

/// All the frames of a dialect back to back in one buffer decode in order,
/// each consuming exactly its own bytes; a partial last frame waits.
#[test]
fn frames_back_to_back() {
    for d in ALL.iter().copied() {
        let cases: Vec<_> = r_cases()
            .into_iter()
            .filter(|c| c.dialects.contains(&d))
            .collect();
        let mut buf = BytesMut::new();
        for c in &cases {
            buf.extend_from_slice(&c.bytes);
        }
        buf.extend_from_slice(&cases[0].bytes[..5]);
        for c in &cases {
            let (tag, m) = decode_frame::<Rmessage>(&mut buf, MSIZE, d)
                .unwrap()
                .unwrap();
            assert_eq!((tag, m.unwrap()), (Tag(c.tag), c.msg.clone()));
        }
        assert_eq!(decode_frame::<Rmessage>(&mut buf, MSIZE, d), Ok(None));
        assert_eq!(buf.len(), 5);
    }
}

fn decode_body<M: Message>(bytes: &[u8], d: Dialect) -> Result<M, DecodeError> {
    let mut buf = BytesMut::from(bytes);
    decode_frame::<M>(&mut buf, MSIZE, d).unwrap().unwrap().1
}

/// Frames with the Unix fields do not decode under plain 9P2000, nor plain
/// 9P2000 frames of the same messages under 9P2000.u or 9P2000.L.
fn options_follow_dialect<M: Message + Debug>(cases: Vec<Case<M>>) -> usize {
    let mut checked = 0;
    for c in cases {
        let wrong: &[Dialect] = if c.dialects == CLASSIC {
            UNIX
        } else if c.dialects.contains(&Dialect::U) && !c.dialects.contains(&Dialect::Classic) {
            CLASSIC
        } else {
            continue;
        };
        for &d in wrong {
            if format!("{:?}", c.msg).starts_with("Rerror") && d == Dialect::Classic {
                // Read leniently: see `a_9p2000_rerror_may_carry_an_errno`.
                continue;
            }
            let got = decode_body::<M>(&c.bytes, d);
            assert!(got.is_err(), "{:?} decoded under {d} as {got:?}", c.msg);
            checked += 1;
        }
    }
    checked
}

#[test]
fn option_fields_follow_dialect() {
    // Tauth, Tattach, Tcreate, Twstat: 2 + 1 wrong dialects each.
    assert_eq!(options_follow_dialect(t_cases()), 12);
    // Rerror (under .L only), Rstat.
    assert_eq!(options_follow_dialect(r_cases()), 5);
    let stat_u = &r_cases()
        .into_iter()
        .find(|c| c.msg.name() == "Rstat" && c.dialects == U_ONLY)
        .unwrap()
        .bytes;
    assert_eq!(
        decode_body::<Rmessage>(stat_u, Dialect::Classic),
        Err(DecodeError::BadLength("stat size"))
    );
}

/// aio9p's 9P2000 example server sends the .u errno after the string in
/// plain 9P2000 too: it is read, not refused as trailing bytes; any other
/// tail still is.
#[test]
fn a_9p2000_rerror_may_carry_an_errno() {
    let u_form = Rmessage::from(Rerror {
        ename: s("No such file or directory"),
        errno: Some(2),
    });
    let bytes = encode(4, &u_form);
    assert_eq!(
        decode_body::<Rmessage>(&bytes, Dialect::Classic),
        Ok(u_form)
    );
    let mut longer = BytesMut::from(&bytes[..]);
    longer.extend_from_slice(&[0]);
    let n = longer.len() as u32;
    longer[..4].copy_from_slice(&n.to_le_bytes());
    assert_eq!(
        decode_body::<Rmessage>(&longer, Dialect::Classic),
        Err(DecodeError::TrailingBytes(5))
    );
}

/// A frame of type 107 whose body is a bare errno, as nfs-ganesha sends.
#[rustfmt::skip]
const GANESHA_ERROR: &[u8] = &[
    11,0,0,0,   // size 11
    107,        // type Rerror
    9,0,        // tag 9
    2,0,0,0,    // ecode ENOENT (the Rlerror body)
];

/// Under 9P2000.L the nfs-ganesha form is Rlerror; under 9P2000.u a type-107
/// frame is a real Rerror (string + errno), so those 4 bytes are too few.
#[test]
fn ganesha_rerror_is_rlerror_under_linux() {
    let (tag, m) = decode_one::<Rmessage>(GANESHA_ERROR, MSIZE, Dialect::L);
    assert_eq!(tag, Tag(9));
    assert_eq!(m, Rmessage::Rlerror(Rlerror { ecode: 2 }));
    assert!(m.is_error());
    assert!(matches!(
        decode_body::<Rmessage>(GANESHA_ERROR, Dialect::U),
        Err(DecodeError::Truncated { .. })
    ));
    // A 9P2000.u-style Rerror still decodes as Rerror under 9P2000.L.
    let u_form = Rmessage::from(Rerror {
        ename: s("not found"),
        errno: Some(2),
    });
    let (_, m) = decode_one::<Rmessage>(&encode(3, &u_form), MSIZE, Dialect::L);
    assert_eq!(m, u_form);
    // Requests have no such special case.
    assert_eq!(
        decode_body::<Tmessage>(GANESHA_ERROR, Dialect::L),
        Err(DecodeError::UnknownType(107))
    );
}

#[test]
fn errors_answer_any_request() {
    let lerror = Rmessage::from(Rlerror { ecode: 5 });
    let walk = Rmessage::from(Rwalk { wqid: vec![] });
    assert!(lerror.answers(msg_type::TVERSION) && lerror.answers(msg_type::TWALK));
    assert!(walk.answers(msg_type::TWALK));
    assert!(!walk.answers(msg_type::TREAD) && !walk.is_error());
    assert_eq!(walk.name(), "Rwalk");
    let t = Tmessage::from(Tclunk {
        fid: crate::ids::Fid(1),
    });
    assert_eq!((t.ty(), t.name()), (msg_type::TCLUNK, "Tclunk"));
}

#[test]
fn dialect_names() {
    for d in ALL.iter().copied() {
        assert_eq!(
            Dialect::from_version_string(d.version_string().as_bytes()),
            Some(d)
        );
        assert_eq!(d.to_string(), d.version_string());
    }
    assert_eq!(Dialect::from_version_string(b"unknown"), None);
    assert_eq!(Dialect::from_version_string(b"9P2000.l"), None);
    assert!(!Dialect::Classic.has_unix_extensions());
}

/// The Rreaddir golden payload parses to its entry; a cut entry is an error.
#[rustfmt::skip]
#[test]
fn dirents_parse() {
    let entry: &[u8] = &[
        0x80, 1,0,0,0, 2,0,0,0,0,0,0,0, // qid QD
        1,0,0,0,0,0,0,0,                // offset 1
        4,                              // type DT_DIR
        1,0, b'.',                      // name "."
    ];
    let dot = Dirent { qid: QD, offset: 1, ty: 4, name: s(".") };
    assert_eq!(parse_dirents(Bytes::from_static(entry)), Ok(vec![dot.clone()]));
    assert_eq!(parse_dirents(Bytes::new()), Ok(vec![]));
    let two = [entry, entry].concat();
    assert_eq!(parse_dirents(Bytes::from(two.clone())), Ok(vec![dot.clone(), dot]));
    for cut in 1..entry.len() {
        let r = parse_dirents(Bytes::from(two[..entry.len() + cut].to_vec()));
        assert!(matches!(r, Err(DecodeError::Truncated { .. })), "cut {cut}: {r:?}");
    }
}

/// A 9P2000 directory read is packed stats, each with its own size.
#[test]
fn stats_parse() {
    for (d, ext) in [
        (Dialect::Classic, None),
        (
            Dialect::U,
            Some(StatExt {
                extension: s("x"),
                n_uid: 1,
                n_gid: 2,
                n_muid: 3,
            }),
        ),
    ] {
        let st = file_stat(ext);
        let mut buf = BytesMut::new();
        st.encode(&mut buf);
        st.encode(&mut buf);
        assert_eq!(
            parse_stats(buf.clone().freeze(), d),
            Ok(vec![st.clone(), st.clone()])
        );
        buf.truncate(buf.len() - 1);
        assert!(parse_stats(buf.freeze(), d).is_err());
    }
}

/// A stat whose size field is larger than its fields, inside a frame that
/// has room for the extra byte, is a length error, not a silent skip.
#[test]
fn stat_size_must_match_fields() {
    let mut buf = BytesMut::new();
    file_stat(None).encode(&mut buf);
    assert_eq!(buf[..2], [51, 0]);
    buf[0] = 52; // the stat claims one byte more than its fields take
    buf.put_u8(0); // and that byte is there
    let r = parse_stats(buf.freeze(), Dialect::Classic);
    assert_eq!(r, Err(DecodeError::BadLength("stat size")));
}

#[test]
fn short_debug_and_limits() {
    assert_eq!(format!("{:?}", data(b"hello")), "Data(5 bytes)");
    assert_eq!(format!("{:?}", s("a")), "\"a\"");
    assert!(NineStr::new(vec![b'a'; NineStr::MAX_LEN]).is_some());
    assert!(NineStr::new(vec![b'a'; NineStr::MAX_LEN + 1]).is_none());
    let bad = NineStr::new(vec![0xff, b'a']).unwrap();
    assert_eq!(bad.to_str_lossy(), "\u{fffd}a");
}
