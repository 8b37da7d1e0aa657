//! `-o reconnect`: the mount's connection (`conn.rs`), swapped for a new
//! one when it is lost.
//!
//! With reconnect on, [`supervise`] waits for the connection to close,
//! dials again with capped exponential backoff (50 ms doubling to 2 s; the
//! delay is not reset when a new connection dies young, so a server that
//! accepts and hangs up is not hammered), negotiates, attaches as the
//! mount did, and then restores the mount's state on the new connection
//! (`fs/restore.rs`): every fid of the old one is dropped (nothing of a
//! lost connection is ever sent on a new one), inodes walk again by name
//! when next used, and open handles are walked to and opened again.
//! After trying for `give_up` in a row it stops: the mount then ends as
//! without reconnect.
//!
//! What a request that was in flight when the connection went gets is
//! decided in `Fs::run_retry`: idempotent ones are sent once more on the
//! new connection; everything else fails with EIO (a Twrite or a Tlcreate
//! whose reply was lost may or may not have been done).
//!
//! The same machinery replaces a connection that is not lost, whenever a
//! server that broke the flush rules holds too many of its tags (DESIGN.md
//! rule 8; `Client::needs_replacing`), with or without `-o reconnect`: a
//! new connection is dialled while the old one serves, put in its place
//! and the mount's state moved to it, and only then is the old one retired
//! (its replies in flight come first). No request fails for it.

use std::time::{Duration, Instant};

use ninep_client::{Client, File};
use tracing::{info, warn};

use crate::config::{AttachParams, Reconnect};
use crate::conn::Phase;
use crate::fs::{Fs, ATTR_MASK};

/// First delay between attempts to dial again.
const FIRST_DELAY: Duration = Duration::from_millis(50);
/// Longest delay between attempts.
const MAX_DELAY: Duration = Duration::from_secs(2);
/// A connection that lived this long resets the delay to [`FIRST_DELAY`].
const SETTLED: Duration = Duration::from_secs(10);

/// What happened to the current connection.
enum Event {
    /// Lost, for this reason.
    Lost(String),
    /// Still serving, but due to be replaced.
    Replace,
}

/// How long an old connection may take to answer what is in flight on it
/// once a new one has replaced it.
const RETIRE: Duration = Duration::from_secs(5);

/// Watch the mount's connection: replace it whenever it is lost (with
/// `-o reconnect`) or due to be replaced, until given up (see the module
/// doc). Without `after_loss`, a lost connection is only marked dead.
pub(crate) async fn supervise(fs: Fs, spec: Option<Reconnect>) {
    let mut delay = FIRST_DELAY;
    loop {
        let since = Instant::now();
        let client = fs.conn.client();
        let event = tokio::select! {
            why = client.closed() => Event::Lost(why),
            () = client.needs_replacing(), if spec.is_some() => Event::Replace,
        };
        let why = match event {
            Event::Replace => {
                let Some(spec) = &spec else { continue };
                if !replace(&fs, spec, client).await {
                    // Tried and failed: the old connection serves on; try
                    // again later rather than at once.
                    tokio::time::sleep(MAX_DELAY * 5).await;
                }
                continue;
            }
            Event::Lost(why) => why,
        };
        fs.conn.set_phase(Phase::Down);
        let Some(spec) = spec.as_ref().filter(|s| s.after_loss) else {
            fs.conn.set_phase(Phase::Dead);
            return;
        };
        warn!("lost the connection to {}: {why}; reconnecting", spec.addr);
        delay = delay_after_loss(delay, since.elapsed());
        let Some((client, root)) = redial(spec, &fs.cfg.attach, &mut delay).await else {
            warn!(
                "could not reconnect to {} within {:?}: giving up",
                spec.addr, spec.give_up
            );
            fs.conn.set_phase(Phase::Dead);
            return;
        };
        let learned = fs.conn.client().fid_cap();
        drop(move_to(&fs, client, root, learned, spec.client.connect_timeout).await);
        fs.conn.up();
        info!(
            "reconnected to {} ({} so far)",
            spec.addr,
            fs.conn.reconnects()
        );
    }
}

/// Replace `old`, which still serves, by a new connection (see the module
/// doc): false if none could be made.
async fn replace(fs: &Fs, spec: &Reconnect, old: Client) -> bool {
    let held = old.stats().quarantined;
    warn!(
        "replacing the connection to {}: {held} tags are held for a server that broke \
         the flush rules, and only a new connection frees them",
        spec.addr
    );
    // That server is not flushed on purpose any more, nor trusted to keep
    // the flush order on the new connection.
    let mut client = spec.client.clone();
    client.flush_probe = 0;
    client.distrust_flush_order = old.order_violated();
    let spec = Reconnect {
        client,
        give_up: spec.give_up.min(spec.client.connect_timeout * 3),
        ..spec.clone()
    };
    // At once: the old connection serves meanwhile, but holds one more
    // tag with every request this server drops.
    let bound = spec.client.connect_timeout;
    let first = tokio::time::timeout(bound, dial(&spec, &spec.client, &fs.cfg.attach)).await;
    let dialled = match first {
        Ok(Ok(c)) => Some(c),
        _ => redial(&spec, &fs.cfg.attach, &mut FIRST_DELAY.clone()).await,
    };
    let Some((client, root)) = dialled else {
        warn!(
            "could not dial {} to replace the connection: keeping it",
            spec.addr
        );
        return false;
    };
    drop(move_to(fs, client, root, old.fid_cap(), bound).await);
    fs.conn.replaced();
    info!(
        "replaced the connection to {} ({} so far)",
        spec.addr,
        fs.conn.replacements()
    );
    tokio::spawn(async move { old.retire(RETIRE).await });
    true
}

/// Put `client` (attached as `root`) in place of the mount's connection
/// and move the mount's state to it; the old connection is handed back.
/// A server that accepts and then says nothing must not hold the mount
/// here: what is not reopened within `bound` fails with EIO.
async fn move_to(fs: &Fs, client: Client, root: File, learned_cap: u32, bound: Duration) -> Client {
    fs.0.adopt(&client, Some(learned_cap));
    let old = fs.conn.swap(client);
    if tokio::time::timeout(bound, fs.restore(root)).await.is_err() {
        warn!("reopening files on the new connection took over {bound:?}: left as they are");
    }
    old
}

/// Dial, negotiate and attach until it works or `spec.give_up` has
/// passed, sleeping `delay` (doubled each time, up to [`MAX_DELAY`])
/// before each attempt.
async fn redial(
    spec: &Reconnect,
    attach: &AttachParams,
    delay: &mut Duration,
) -> Option<(Client, File)> {
    let start = Instant::now();
    loop {
        tokio::time::sleep(*delay).await;
        *delay = next_delay(*delay);
        let left = spec.give_up.checked_sub(start.elapsed())?;
        let mut cfg = spec.client.clone();
        cfg.connect_timeout = cfg.connect_timeout.min(left.max(FIRST_DELAY));
        match tokio::time::timeout(cfg.connect_timeout, dial(spec, &cfg, attach)).await {
            Ok(Ok(c)) => return Some(c),
            Ok(Err(e)) => info!("reconnecting to {}: {e}", spec.addr),
            Err(_) => info!(
                "reconnecting to {}: no attach within {:?}",
                spec.addr, cfg.connect_timeout
            ),
        }
    }
}

/// The first delay before dialling again after a connection that lived
/// `lived` was lost, `delay` being where the last redial left off: back to
/// [`FIRST_DELAY`] only for a connection that settled, so a server that
/// accepts and hangs up at once is dialled ever more slowly.
fn delay_after_loss(delay: Duration, lived: Duration) -> Duration {
    match lived >= SETTLED {
        true => FIRST_DELAY,
        false => delay,
    }
}

/// The delay after `d`: doubled, up to [`MAX_DELAY`].
fn next_delay(d: Duration) -> Duration {
    (d * 2).clamp(FIRST_DELAY, MAX_DELAY)
}

/// One attempt: connect, negotiate, attach as the mount did, and check
/// the root is still a directory.
async fn dial(
    spec: &Reconnect,
    cfg: &ninep_client::Config,
    a: &AttachParams,
) -> ninep_client::Result<(Client, File)> {
    let client = Client::connect(&spec.addr, cfg).await?;
    let root = client.attach(&a.uname, &a.aname, a.n_uname).await?;
    let attr = root.getattr(ATTR_MASK).await?;
    if attr.mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(ninep_client::Error::Invalid(format!(
            "the root of aname {:?} is no longer a directory",
            a.aname
        )));
    }
    Ok((client, root))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_up_to_its_cap() {
        let mut d = FIRST_DELAY;
        let mut seen = vec![d];
        for _ in 0..8 {
            d = next_delay(d);
            seen.push(d);
        }
        let ms: Vec<u128> = seen.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [50, 100, 200, 400, 800, 1600, 2000, 2000, 2000]);
        assert_eq!(next_delay(Duration::ZERO), FIRST_DELAY);
    }

    /// A server that accepts, attaches and hangs up at once: each loss
    /// starts from where the last redial left the delay, so the attempts
    /// slow down to one every [`MAX_DELAY`]; a connection that lasted
    /// [`SETTLED`] starts over at [`FIRST_DELAY`].
    #[test]
    fn the_backoff_resets_only_after_a_settled_connection() {
        let mut delay = FIRST_DELAY;
        let mut slept = Duration::ZERO;
        for _ in 0..10 {
            // A connection that died young: redial sleeps, then doubles.
            delay = delay_after_loss(delay, Duration::from_millis(20));
            slept += delay;
            delay = next_delay(delay);
        }
        assert_eq!(delay, MAX_DELAY, "young deaths keep the delay growing");
        assert!(
            slept >= Duration::from_secs(10),
            "10 quick deaths: {slept:?}"
        );
        assert_eq!(
            delay_after_loss(delay, SETTLED - Duration::from_millis(1)),
            MAX_DELAY
        );
        assert_eq!(delay_after_loss(delay, SETTLED), FIRST_DELAY);
    }
}
