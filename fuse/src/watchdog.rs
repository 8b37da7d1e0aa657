//! The mount's watchdog: a FUSE request served for longer than
//! `MountConfig::watchdog` is logged once, with its operation, the path
//! of the inode it is about (the directory, for an operation on a name in
//! it) and its FUSE id. (The client's own watchdog
//! logs the 9P request behind it, with its tag and type.)
//!
//! The task holds the mount's state weakly and ends with the mount.

use std::sync::Weak;
use std::time::{Duration, Instant};

use ninep_client::watch_period;
use tracing::warn;

use crate::fs::MountState;

/// Look every so often until the mount is gone.
pub(crate) async fn watch(shared: Weak<MountState>, after: Duration) {
    let mut tick = tokio::time::interval(watch_period(after));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(s) = shared.upgrade() else {
            return;
        };
        for o in s.intr.overdue(Instant::now(), after) {
            warn!(
                unique = o.unique,
                "FUSE {} on {} has waited {:.1} s for the server",
                o.op.name,
                s.inodes.path(o.op.ino),
                o.waited.as_secs_f64()
            );
        }
    }
}
