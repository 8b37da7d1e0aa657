//! The mount's keepalive (`-o keepalive=`): a connection from which no
//! reply has come for a whole period gets one cheap request (a Tgetattr
//! of the root), which must be answered within the next period. An
//! unanswered one means the server, or the path to it, is gone even though
//! the TCP connection looks open (a partition, a relay or a server that
//! stopped without closing): the connection is abandoned, so that
//! `-o reconnect` dials again, or every request fails with EIO at once
//! instead of hanging.
//!
//! TCP keepalive on the socket (set when it is dialled) covers a peer whose
//! kernel is gone; this covers one whose kernel still acknowledges.
//!
//! The task holds the mount's state weakly and ends with the mount.

use std::sync::Weak;
use std::time::Duration;

use tracing::{debug, warn};

use crate::conn::Phase;
use crate::fs::{Fs, MountState, ATTR_MASK};
use crate::ino::Ino;

/// Watch the mount's connection every `every` until the mount is gone.
pub(crate) async fn watch(shared: Weak<MountState>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    // The connection's generation and its reply count at the last tick.
    let mut last = None;
    loop {
        tick.tick().await;
        let Some(s) = shared.upgrade() else {
            return;
        };
        let status = s.conn.status();
        if status.phase != Phase::Up {
            last = None;
            continue;
        }
        let client = s.conn.client();
        let now = (status.gen, client.stats().replies);
        if last != Some(now) {
            last = Some(now);
            continue;
        }
        // Nothing came back for a whole period: ask.
        let fs = Fs(s);
        let uid = fs.cfg.attach.n_uname;
        let ping = async {
            let root = fs
                .fid(Ino::ROOT, uid)
                .await
                .map_err(|e| format!("errno {}", e.0))?;
            root.getattr(ATTR_MASK)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        match tokio::time::timeout(every, ping).await {
            Ok(Ok(())) => debug!("keepalive answered"),
            // An answer, even an error, is a live server.
            Ok(Err(e)) if !client.is_closed() => debug!("keepalive answered with an error: {e}"),
            Ok(Err(_)) => {}
            Err(_) => {
                warn!(
                    "the server did not answer a keepalive request within {every:?}: \
                     taking the connection as lost"
                );
                client.abandon(format!("no answer to a keepalive request within {every:?}"));
            }
        }
        last = None;
        drop(fs);
    }
}
