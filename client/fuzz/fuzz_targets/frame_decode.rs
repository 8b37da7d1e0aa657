//! Arbitrary bytes through the frame decoder, as replies and as requests.
//!
//! The first input byte picks the dialect and an msize bucket; the rest is
//! the stream. Frames are decoded until the decoder wants more or refuses
//! the size field. Each frame must consume exactly its size field, and each
//! message decoded must encode and decode again to the same value.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use ninep_client::wire::{decode_frame, encode_frame, Dialect, Message, Rmessage, Tmessage};

/// From below the 7-byte minimum to well above any real msize.
const MSIZES: [u32; 6] = [6, 7, 64, 4096, 65536, 1 << 20];

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let dialect = match first % 3 {
        0 => Dialect::L,
        1 => Dialect::U,
        _ => Dialect::Classic,
    };
    let msize = MSIZES[usize::from(first / 3) % MSIZES.len()];
    decode_stream::<Rmessage>(stream, msize, dialect);
    decode_stream::<Tmessage>(stream, msize, dialect);
});

fn decode_stream<M: Message + PartialEq + std::fmt::Debug>(stream: &[u8], msize: u32, d: Dialect) {
    let mut buf = BytesMut::from(stream);
    loop {
        let before = buf.len();
        match decode_frame::<M>(&mut buf, msize, d) {
            Ok(None) => {
                assert_eq!(buf.len(), before, "Ok(None) consumed bytes");
                return;
            }
            Err(_) => return,
            Ok(Some((tag, body))) => {
                let size =
                    u32::from_le_bytes(stream[stream.len() - before..][..4].try_into().unwrap());
                assert_eq!(before - buf.len(), size as usize, "consumed != size field");
                let Ok(msg) = body else { continue };
                let mut again = BytesMut::new();
                encode_frame(tag, &msg, &mut again);
                assert_eq!(again.len(), 7 + msg.body_len());
                let (tag2, body2) = decode_frame::<M>(&mut again, u32::MAX, d)
                    .expect("re-encoded header")
                    .expect("re-encoded frame is whole");
                assert!(again.is_empty(), "re-encoded frame left bytes");
                assert_eq!(tag2, tag);
                assert_eq!(body2.expect("re-encoded body"), msg);
            }
        }
    }
}
