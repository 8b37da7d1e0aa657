//! A scripted 9P peer over an in-memory pipe, for tests of the client's
//! reactions to exact byte sequences: the script sees each request and
//! returns the raw frames to answer with.

use std::time::Duration;

use bytes::BytesMut;
use ninep_client::wire::*;
use ninep_client::{Client, Config, Tag};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Bound on negotiating with a peer.
pub const STEP: Duration = Duration::from_secs(5);

/// Raw bytes of one frame.
pub fn frame(tag: Tag, msg: impl Into<Rmessage>) -> Vec<u8> {
    let mut b = BytesMut::new();
    encode_frame(tag, &msg.into(), &mut b);
    b.to_vec()
}

/// Requests the peer saw, in order.
pub type Seen = mpsc::UnboundedReceiver<(Tag, Tmessage)>;

/// A peer that reads requests (in `dialect`) and answers each with the raw
/// frames `script` returns; an empty frame means "hang up now". Every
/// request it saw is sent to the returned channel.
pub fn peer<F>(dialect: Dialect, mut script: F) -> (tokio::io::DuplexStream, Seen)
where
    F: FnMut(Tag, &Tmessage) -> Vec<Vec<u8>> + Send + 'static,
{
    let (ours, mut theirs) = tokio::io::duplex(1 << 20);
    let (seen_tx, seen) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = BytesMut::new();
        loop {
            while let Ok(Some((tag, Ok(msg)))) =
                decode_frame::<Tmessage>(&mut buf, 1 << 24, dialect)
            {
                for out in script(tag, &msg) {
                    if out.is_empty() || theirs.write_all(&out).await.is_err() {
                        return;
                    }
                }
                if seen_tx.send((tag, msg)).is_err() {
                    return;
                }
            }
            match theirs.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    (ours, seen)
}

/// Answers for set-up: Tversion as asked with `version`, Tattach with a
/// root qid, Tclunk with Rclunk.
pub fn basics(tag: Tag, msg: &Tmessage, version: &str) -> Option<Vec<Vec<u8>>> {
    match msg {
        Tmessage::Tversion(v) => Some(vec![frame(
            tag,
            Rversion {
                msize: v.msize,
                version: version.into(),
            },
        )]),
        Tmessage::Tattach(_) => Some(vec![frame(
            tag,
            Rattach {
                qid: Qid::default(),
            },
        )]),
        Tmessage::Tclunk(_) => Some(vec![frame(tag, Rclunk {})]),
        _ => None,
    }
}

/// A client negotiated over `pipe`.
pub async fn client_over(
    pipe: tokio::io::DuplexStream,
    cfg: &Config,
) -> ninep_client::Result<Client> {
    let (r, w) = tokio::io::split(pipe);
    tokio::time::timeout(STEP, Client::over(Box::new(r), Box::new(w), cfg))
        .await
        .expect("negotiation hangs")
}
