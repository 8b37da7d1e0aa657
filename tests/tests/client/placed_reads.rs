//! Multi-message reads whose Rread data the client reads straight into the
//! caller's buffer (`conn::placed`): the bytes land where they belong
//! however the frames are cut on the wire, a short read ends the file, and
//! an Rread longer than its Tread still fails that read alone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ninep_client::wire::*;
use ninep_client::{Client, Config, Dialect, Error, File, Tag};
use ninep_tests::peer::*;

/// Each Tread carries at most this much: a 20,000-byte read is 5 Treads.
const IO: u32 = 4096;
const FILE_LEN: u64 = 18_000;

fn byte_at(off: u64) -> u8 {
    (off % 251) as u8
}

/// A server whose file holds `FILE_LEN` bytes of `byte_at`; every Rread is
/// written in three pieces (the header and one byte, half the rest, the
/// rest). While `tamper` is set, a Tread of less than `IO` bytes gets 100
/// bytes more than it asked for (the frame still within msize).
/// The peer lives as long as the channel of what it saw.
async fn start(tamper: Arc<AtomicBool>) -> (Client, File, Seen) {
    let (pipe, seen) = peer(Dialect::L, move |tag, msg| match msg {
        Tmessage::Twalk(_) => vec![frame(tag, Rwalk { wqid: vec![] })],
        Tmessage::Tread(r) => rread(tag, r, tamper.load(Ordering::SeqCst)),
        _ => basics(tag, msg, "9P2000.L").unwrap_or_default(),
    });
    let cfg = Config {
        msize: IO + IOHDRSZ,
        ..Config::default()
    };
    let client = client_over(pipe, &cfg).await.unwrap();
    let root = client.attach("root", "", 0).await.unwrap();
    let f = root.walk::<&str>(&[]).await.unwrap();
    (client, f, seen)
}

fn rread(tag: Tag, r: &Tread, tamper: bool) -> Vec<Vec<u8>> {
    let end = (r.offset + u64::from(r.count)).min(FILE_LEN);
    let mut data: Vec<u8> = (r.offset.min(end)..end).map(byte_at).collect();
    if tamper && r.count < IO {
        data.extend_from_slice(&[b'X'; 100]);
    }
    let whole = frame(
        tag,
        Rread {
            data: Data(data.into()),
        },
    );
    let (a, rest) = whole.split_at((RREAD_HEAD + 1).min(whole.len()));
    let (b, c) = rest.split_at(rest.len() / 2);
    [a, b, c]
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_lands_in_place_and_a_short_read_ends_the_file() {
    let (client, f, _seen) = start(Arc::default()).await;
    let data = f.read_bytes_at(100, 3 * u64::from(IO), 4).await.unwrap();
    let want: Vec<u8> = (100..100 + 3 * u64::from(IO)).map(byte_at).collect();
    assert_eq!(&data[..], &want[..]);
    // Past the end: the 18,000 bytes there are, from 5 Treads of 4096.
    let data = f.read_bytes_at(0, 30_000, 8).await.unwrap();
    let want: Vec<u8> = (0..FILE_LEN).map(byte_at).collect();
    assert_eq!(data.len(), want.len());
    assert!(data[..] == want[..], "bytes out of place");
    let t = client.traffic();
    assert_eq!(t.bytes_read, 3 * u64::from(IO) + FILE_LEN);
    assert_eq!(client.stats().in_flight, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_rread_longer_than_asked_fails_that_read_only() {
    let tamper = Arc::new(AtomicBool::new(true));
    let (client, f, _seen) = start(tamper.clone()).await;
    let len = 4 * u64::from(IO) - 200;
    match f.read_bytes_at(0, len, 4).await {
        Err(Error::Protocol(why)) => assert!(why.contains("Rread of 3996 bytes"), "{why}"),
        r => panic!("{r:?}"),
    }
    tamper.store(false, Ordering::SeqCst);
    let data = f.read_bytes_at(0, len, 4).await.unwrap();
    let want: Vec<u8> = (0..len).map(byte_at).collect();
    assert!(data[..] == want[..], "the connection is still in sync");
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(client.stats().in_flight, 0, "no tag leaked");
}
