//! Property tests: arbitrary messages round-trip; arbitrary, mutated or
//! truncated bytes never panic the decoder and never desynchronise framing.

use bytes::{BufMut, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use std::fmt::Debug;

use super::strategies::{dialect, dirent, rmessage, stat, tmessage};
use super::*;

/// msizes for the byte-level properties. Capped at 1 MiB: once a size field
/// passes the msize check the decoder reserves room for the whole frame,
/// which is by design bounded by the msize we negotiated, not by the test.
fn msize() -> impl Strategy<Value = u32> {
    prop_oneof![0u32..=64, 0u32..=(1 << 20)]
}

/// `m` encodes to `body_len + 7` bytes led by that size, and decodes back to
/// itself and `tag` under `d`, with msize exactly the frame's length.
fn check_round_trip<M>(d: Dialect, tag: u16, m: &M) -> Result<(), TestCaseError>
where
    M: Message + PartialEq + Debug,
{
    let buf = encode(tag, m);
    prop_assert_eq!(buf.len(), m.body_len() + HEADER_LEN);
    prop_assert_eq!(
        u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize,
        buf.len()
    );
    prop_assert_eq!(buf[4], m.msg_type());
    let (t, got) = decode_one::<M>(&buf, buf.len() as u32, d);
    prop_assert_eq!(t, Tag(tag));
    prop_assert_eq!(&got, m);
    Ok(())
}

/// Decode frames from `bytes` until the decoder wants more or gives up,
/// checking the framing invariants and that every decoded message survives
/// a second round trip.
fn decode_all<M>(bytes: &[u8], msize: u32, d: Dialect) -> Result<(), TestCaseError>
where
    M: Message + PartialEq + Debug,
{
    let mut buf = BytesMut::from(bytes);
    loop {
        let before = buf.len();
        let size = (before >= 4).then(|| u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]));
        match decode_frame::<M>(&mut buf, msize, d) {
            Ok(None) => {
                prop_assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                if let Some(size) = size {
                    prop_assert!((MIN_FRAME..=msize).contains(&size));
                    prop_assert!((size as usize) > before);
                }
                return Ok(());
            }
            Ok(Some((tag, body))) => {
                let size = size.expect("a frame needs a size field") as usize;
                prop_assert_eq!(before - buf.len(), size, "consumed != size field");
                if let Ok(m) = body {
                    let (t, again) = decode_one::<M>(&encode(tag.0, &m), u32::MAX, d);
                    prop_assert_eq!(t, tag);
                    prop_assert_eq!(again, m);
                }
            }
            Err(e) => {
                let size = size.expect("an error needs a size field");
                match e {
                    DecodeError::FrameTooSmall(s) => prop_assert!(s == size && s < MIN_FRAME),
                    DecodeError::FrameTooLarge { size: s, msize: m } => {
                        prop_assert!(s == size && m == msize && s > msize)
                    }
                    other => prop_assert!(false, "framing error {other:?}"),
                }
                return Ok(());
            }
        }
    }
}

fn decode_both(bytes: &[u8], msize: u32, d: Dialect) -> Result<(), TestCaseError> {
    decode_all::<Rmessage>(bytes, msize, d)?;
    decode_all::<Tmessage>(bytes, msize, d)
}

/// A frame with a correct size field around an arbitrary type and body,
/// the type biased towards codes that exist.
fn loose_frame() -> impl Strategy<Value = Vec<u8>> {
    let ty = prop_oneof![
        any::<u8>(),
        7u8..=9,
        12u8..=27,
        30u8..=41,
        50u8..=55,
        70u8..=77,
        100u8..=127
    ];
    (ty, any::<u16>(), vec(any::<u8>(), 0..=96)).prop_map(|(ty, tag, body)| {
        let mut f = BytesMut::new();
        f.put_u32_le((HEADER_LEN + body.len()) as u32);
        f.put_u8(ty);
        f.put_u16_le(tag);
        f.put_slice(&body);
        f.to_vec()
    })
}

/// A valid frame of dialect `d` with a few bytes overwritten.
fn mutated_frame(d: Dialect) -> impl Strategy<Value = Vec<u8>> {
    let msg = prop_oneof![
        tmessage(d).prop_map(|m| encode(1, &m).to_vec()),
        rmessage(d).prop_map(|m| encode(1, &m).to_vec()),
    ];
    (msg, vec((any::<Index>(), any::<u8>()), 1..=4)).prop_map(|(mut f, muts)| {
        for (i, v) in muts {
            let i = i.index(f.len());
            f[i] = v;
        }
        f
    })
}

proptest! {
    #[test]
    fn tmessages_round_trip(
        (d, m) in dialect().prop_flat_map(|d| (Just(d), tmessage(d))),
        tag in any::<u16>(),
    ) {
        check_round_trip(d, tag, &m)?;
    }

    #[test]
    fn rmessages_round_trip(
        (d, m) in dialect().prop_flat_map(|d| (Just(d), rmessage(d))),
        tag in any::<u16>(),
    ) {
        check_round_trip(d, tag, &m)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in vec(any::<u8>(), 0..=256),
        msize in msize(),
        d in dialect(),
    ) {
        decode_both(&bytes, msize, d)?;
    }

    #[test]
    fn loose_frames_never_panic(
        frames in vec(loose_frame(), 1..=4),
        msize in msize(),
        d in dialect(),
    ) {
        decode_both(&frames.concat(), msize, d)?;
    }

    #[test]
    fn mutated_frames_never_panic(
        (d, f) in dialect().prop_flat_map(|d| (Just(d), mutated_frame(d))),
        cut in any::<Index>(),
    ) {
        decode_both(&f, 1 << 20, d)?;
        decode_both(&f[..cut.index(f.len() + 1)], 1 << 20, d)?;
    }

    /// With only the size field buffered, a size below 7 or above msize is
    /// already an error; any other size waits for more bytes.
    #[test]
    fn size_field_checked_on_four_bytes(
        (msize, size) in msize().prop_flat_map(|m| (
            Just(m),
            prop_oneof![0u32..16, any::<u32>(), m.saturating_sub(2)..=m.saturating_add(2)],
        )),
    ) {
        let mut buf = BytesMut::from(&size.to_le_bytes()[..]);
        let got = decode_frame::<Rmessage>(&mut buf, msize, Dialect::L);
        if size < MIN_FRAME {
            prop_assert_eq!(got, Err(DecodeError::FrameTooSmall(size)));
        } else if size > msize {
            prop_assert_eq!(got, Err(DecodeError::FrameTooLarge { size, msize }));
        } else {
            prop_assert_eq!(got, Ok(None));
        }
        prop_assert_eq!(buf.len(), 4);
    }

    #[test]
    fn fewer_than_four_bytes_wait(
        bytes in vec(any::<u8>(), 0..4),
        msize in msize(),
        d in dialect(),
    ) {
        let mut buf = BytesMut::from(&bytes[..]);
        prop_assert_eq!(decode_frame::<Tmessage>(&mut buf, msize, d), Ok(None));
    }

    #[test]
    fn parsers_never_panic(bytes in vec(any::<u8>(), 0..=512), d in dialect()) {
        let _ = parse_dirents(bytes::Bytes::from(bytes.clone()));
        let _ = parse_stats(bytes::Bytes::from(bytes), d);
    }

    #[test]
    fn dirents_round_trip(entries in vec(dirent(), 0..=8)) {
        let mut buf = BytesMut::new();
        for e in &entries {
            e.encode(&mut buf);
        }
        prop_assert_eq!(buf.len(), entries.iter().map(Wire::encoded_len).sum::<usize>());
        prop_assert_eq!(parse_dirents(buf.freeze()), Ok(entries));
    }

    #[test]
    fn stats_round_trip((d, stats) in dialect().prop_flat_map(|d| (Just(d), vec(stat(d), 0..=4)))) {
        let mut buf = BytesMut::new();
        for s in &stats {
            s.encode(&mut buf);
        }
        prop_assert_eq!(buf.len(), stats.iter().map(Wire::encoded_len).sum::<usize>());
        prop_assert_eq!(parse_stats(buf.freeze(), d), Ok(stats));
    }
}
