//! The mount's connection: the current [`Client`], swapped for a new one
//! when it is lost (`-o reconnect`) or replaced (see `reconnect.rs`, which
//! does the swapping), with a status every request can look at: a
//! generation number, and whether the connection is up, being replaced,
//! or given up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard};
use std::time::SystemTime;

use ninep_client::{Client, File};
use tokio::sync::watch;

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Serving.
    Up,
    /// Lost; a new one is being dialled.
    Down,
    /// Lost for good (reconnect off, or given up).
    Dead,
}

/// The connection's generation (+1 per reconnect) and phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Status {
    pub gen: u64,
    pub phase: Phase,
}

/// What a request saw of the connection when it started.
#[derive(Debug, Clone)]
pub(crate) struct Seen {
    gen: u64,
    client: Client,
}

/// The mount's connection (see the module doc).
#[derive(Debug)]
pub(crate) struct Conn {
    client: RwLock<Client>,
    status: watch::Sender<Status>,
    reconnects: AtomicU64,
    replacements: AtomicU64,
    /// When the connection was lost, while no new one serves.
    lost_at: Mutex<Option<SystemTime>>,
}

impl Conn {
    pub(crate) fn new(client: Client) -> Conn {
        let status = Status {
            gen: 0,
            phase: Phase::Up,
        };
        Conn {
            client: RwLock::new(client),
            status: watch::Sender::new(status),
            reconnects: AtomicU64::new(0),
            replacements: AtomicU64::new(0),
            lost_at: Mutex::new(None),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Client> {
        self.client.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The current connection.
    pub(crate) fn client(&self) -> Client {
        self.read().clone()
    }

    /// The dialect of the current connection (no clone of the client: it
    /// is asked on every lookup).
    pub(crate) fn dialect(&self) -> ninep_client::Dialect {
        self.read().dialect()
    }

    /// Whether `f` is a fid of the current connection.
    pub(crate) fn owns(&self, f: &File) -> bool {
        f.client().same_connection(&self.read())
    }

    /// Reconnections so far.
    pub(crate) fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }

    /// Connections replaced so far (not lost: see the module doc).
    pub(crate) fn replacements(&self) -> u64 {
        self.replacements.load(Ordering::Relaxed)
    }

    pub(crate) fn status(&self) -> Status {
        *self.status.borrow()
    }

    /// The connection as a request starting now sees it.
    pub(crate) fn seen(&self) -> Seen {
        Seen {
            gen: self.status().gen,
            client: self.client(),
        }
    }

    /// Whether the connection `seen` has been lost since.
    pub(crate) fn lost_since(&self, seen: &Seen) -> bool {
        let now = self.status();
        now.gen != seen.gen || now.phase != Phase::Up || seen.client.is_closed()
    }

    /// Wait until a connection newer than `seen` is up: false if the mount
    /// gave up instead.
    pub(crate) async fn wait_newer(&self, seen: &Seen) -> bool {
        let mut rx = self.status.subscribe();
        let ready =
            |s: &Status| s.phase == Phase::Dead || (s.gen > seen.gen && s.phase == Phase::Up);
        let up = match rx.wait_for(ready).await {
            Ok(s) => s.phase == Phase::Up,
            Err(_) => false,
        };
        up
    }

    /// Resolves once the mount has given up its connection.
    pub(crate) async fn dead(&self) {
        let mut rx = self.status.subscribe();
        let _ = rx.wait_for(|s| s.phase == Phase::Dead).await;
    }

    /// Since when no connection serves the mount (`None`: one does).
    pub(crate) fn lost_at(&self) -> Option<SystemTime> {
        *self.lost_at.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_phase(&self, phase: Phase) {
        if phase != Phase::Up {
            let mut at = self.lost_at.lock().unwrap_or_else(|e| e.into_inner());
            at.get_or_insert_with(SystemTime::now);
        }
        self.status.send_modify(|s| s.phase = phase);
    }

    /// Put `client` in place, counted as a reconnect: still `Down` until
    /// [`Conn::up`].
    pub(crate) fn swap(&self, client: Client) -> Client {
        let mut c = self.client.write().unwrap_or_else(|e| e.into_inner());
        std::mem::replace(&mut *c, client)
    }

    /// The replacing connection serves: a new generation.
    pub(crate) fn replaced(&self) {
        self.replacements.fetch_add(1, Ordering::Relaxed);
        self.status.send_modify(|s| s.gen += 1);
    }

    /// The new connection serves: a new generation.
    pub(crate) fn up(&self) {
        self.reconnects.fetch_add(1, Ordering::Relaxed);
        *self.lost_at.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.status.send_modify(|s| {
            s.gen += 1;
            s.phase = Phase::Up;
        });
    }
}
