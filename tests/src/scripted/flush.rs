//! Requests in flight and the Tflush behaviours.
//!
//! Only two kinds of request stay in flight: a read of `/block/N` (a
//! *victim* once a Tflush names it) and a Tflush the behaviour holds.
//!
//! ```text
//! Tread /block/N --> waiting --release/timeout--> complete: reply
//!                       |                            (+ held Rflushes,
//!                       |                             order per behaviour)
//!                       +--Tflush, behaviour cancels--> cancelled: the task
//!                                                       is aborted, no reply
//! ```
//!
//! Held Tflushes are listed on their victim in arrival order. A flush of a
//! held flush is a *follower* of it: it is answered right after the Rflush
//! that answers its target (Viro's rule), and it cancels nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use ninep_client::wire::{Data, Rflush, Rlerror, Rmessage, Rread};
use ninep_client::Tag;
use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::behaviour::FlushBehaviour as B;
use super::conn::{Conn, State};
use super::tree::{errno, slice_at};

/// A request waiting for its reply.
#[derive(Debug)]
enum Unanswered {
    /// A blocked read.
    Read(Victim),
    /// A Tflush not answered yet; its followers are flushes of it.
    Flush { followers: Vec<Tag> },
    /// `first-only`: a victim its first Tflush cancelled; later Tflushes
    /// naming it are lost.
    Lost,
}

/// A blocked read. Dropping it stops its task and stops counting it as
/// blocked, at once (not when the runtime gets round to the abort).
#[derive(Debug)]
struct Victim {
    /// Stops the read's task (and so its wait).
    task: AbortHandle,
    /// Counts the read as blocked while it waits; `None` once cancelled.
    waiting: Option<Waiting>,
    /// Cancelled, kept only until its held Tflushes are answered.
    cancelled: bool,
    /// Held Tflushes naming this victim, in arrival order.
    flushes: Vec<Tag>,
    /// Bumped by each Tflush under `last-only`: a quiet timer answers only
    /// if no Tflush came after the one that started it.
    generation: u64,
}

impl Victim {
    fn cancel(&mut self) {
        self.task.abort();
        self.waiting = None;
        self.cancelled = true;
    }
}

impl Drop for Victim {
    fn drop(&mut self) {
        // When the task itself completes the read, it has no await left,
        // so this abort does not cut it short.
        self.task.abort();
    }
}

/// The requests in flight on one connection, by tag.
#[derive(Debug, Default)]
pub(crate) struct InFlight(HashMap<Tag, Unanswered>);

impl InFlight {
    /// Forget everything in flight, without replies (Tversion, hang-up).
    pub(crate) fn abort_all(&mut self) {
        self.0.clear();
    }

    /// A new request came on `tag`: a victim lost there is forgotten.
    pub(crate) fn reused(&mut self, tag: Tag) {
        if matches!(self.0.get(&tag), Some(Unanswered::Lost)) {
            self.0.remove(&tag);
        }
    }
}

/// Counts a read as blocked for as long as it lives.
#[derive(Debug)]
struct Waiting(watch::Sender<usize>);

impl Waiting {
    fn new(count: &watch::Sender<usize>) -> Waiting {
        count.send_modify(|n| *n += 1);
        Waiting(count.clone())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n -= 1);
    }
}

/// Until `release` changes, or `timeout` passes.
async fn released(mut release: watch::Receiver<u64>, timeout: Option<Duration>) {
    let forever = std::future::pending::<()>();
    let timer = async {
        match timeout {
            Some(t) => tokio::time::sleep(t).await,
            None => forever.await,
        }
    };
    tokio::select! {
        r = release.changed() => {
            if r.is_err() {
                // The server is going away: never answer.
                std::future::pending::<()>().await;
            }
        }
        () = timer => {}
    }
}

impl Conn {
    fn behaviour(&self) -> B {
        self.shared.config.flush
    }

    /// Start a read of `/block/n` that answers once released. The release
    /// watch is subscribed and the read counted before this returns, so a
    /// release that follows can never be missed.
    pub(crate) fn start_blocked_read(
        self: &Arc<Self>,
        st: &mut State,
        tag: Tag,
        n: usize,
        offset: u64,
        count: u32,
    ) {
        let release = self.shared.releases[n].subscribe();
        let waiting = Waiting::new(&self.shared.blocked);
        let timeout = self.shared.config.read_timeout;
        let conn = Arc::clone(self);
        let task = tokio::spawn(async move {
            released(release, timeout).await;
            let data = slice_at(format!("block {n}\n").as_bytes(), offset, count);
            conn.complete_read(tag, Rread { data: Data(data) }.into());
        });
        let victim = Victim {
            task: task.abort_handle(),
            waiting: Some(waiting),
            cancelled: false,
            flushes: Vec::new(),
            generation: 0,
        };
        // A tag already in flight (a client bug) loses its old read.
        st.inflight.0.insert(tag, Unanswered::Read(victim));
    }

    /// A blocked read is released: send its reply and the Rflushes held
    /// for it, in the order the behaviour dictates.
    fn complete_read(&self, tag: Tag, reply: Rmessage) {
        let mut st = self.lock();
        match st.inflight.0.get(&tag) {
            Some(Unanswered::Read(v)) if !v.cancelled => {}
            // Cancelled while this task was waking up.
            _ => return,
        }
        let Some(Unanswered::Read(mut v)) = st.inflight.0.remove(&tag) else {
            return;
        };
        // No longer blocked, before anyone can see the reply.
        v.waiting = None;
        if self.behaviour() == B::OutOfOrder {
            self.answer(&mut st, &v.flushes, false);
            self.emit(&mut st, tag, reply);
        } else {
            self.emit(&mut st, tag, reply);
            self.answer(&mut st, &v.flushes, false);
        }
    }

    /// Tflush `tag` naming `oldtag`.
    pub(crate) fn tflush(self: &Arc<Self>, st: &mut State, tag: Tag, oldtag: Tag) {
        st.flushes_seen = st.flushes_seen.saturating_add(1);
        match self.behaviour() {
            B::Rlerror => self.emit(
                st,
                tag,
                Rlerror {
                    ecode: errno::EOPNOTSUPP,
                },
            ),
            B::Never => {}
            B::NoSelfFlush if oldtag == tag => {}
            _ if oldtag == tag => self.emit(st, tag, Rflush {}),
            _ => match st.inflight.0.get_mut(&oldtag) {
                None => self.emit(st, tag, Rflush {}),
                // `first-only`: the second and later Tflush are lost.
                Some(Unanswered::Lost) => {}
                Some(Unanswered::Flush { followers }) => {
                    followers.push(tag);
                    self.hold(st, tag);
                }
                Some(Unanswered::Read(_)) => self.flush_read(st, tag, oldtag),
            },
        }
        if let B::LeakAfter(n) = self.behaviour() {
            if st.flushes_seen >= n {
                st.muted = true;
            }
        }
    }

    fn hold(&self, st: &mut State, tag: Tag) {
        let held = Unanswered::Flush {
            followers: Vec::new(),
        };
        st.inflight.0.insert(tag, held);
    }

    /// Tflush `tag` on the blocked read `victim`.
    fn flush_read(self: &Arc<Self>, st: &mut State, tag: Tag, victim: Tag) {
        let Some(Unanswered::Read(v)) = st.inflight.0.get_mut(&victim) else {
            return;
        };
        match self.behaviour() {
            B::Hold => v.flushes.push(tag),
            B::OutOfOrder if v.flushes.is_empty() => v.flushes.push(tag),
            B::OutOfOrder => return self.emit(st, tag, Rflush {}),
            B::FirstOnly => {
                st.inflight.0.insert(victim, Unanswered::Lost);
                return self.emit(st, tag, Rflush {});
            }
            B::LastOnly => {
                v.cancel();
                v.flushes.push(tag);
                v.generation += 1;
                self.start_quiet_timer(victim, v.generation);
            }
            // Correct, NoSelfFlush, LeakAfter (Rlerror and Never never
            // get here).
            _ => {
                st.inflight.0.remove(&victim);
                return self.emit(st, tag, Rflush {});
            }
        }
        self.hold(st, tag);
    }

    /// `last-only`: answer the victim's last Tflush once no other has come
    /// for the quiet period.
    fn start_quiet_timer(self: &Arc<Self>, victim: Tag, generation: u64) {
        let conn = Arc::clone(self);
        let quiet = self.shared.config.last_only_quiet;
        tokio::spawn(async move {
            tokio::time::sleep(quiet).await;
            let mut st = conn.lock();
            match st.inflight.0.get(&victim) {
                Some(Unanswered::Read(v)) if v.cancelled && v.generation == generation => {}
                _ => return,
            }
            if let Some(Unanswered::Read(v)) = st.inflight.0.remove(&victim) {
                conn.answer(&mut st, &v.flushes, true);
            }
        });
    }

    /// Answer the held Tflushes `flushes` in order (only the last one when
    /// `only_last`: it answers the earlier ones too), then their followers.
    fn answer(&self, st: &mut State, flushes: &[Tag], only_last: bool) {
        let mut followers = Vec::new();
        for (i, &f) in flushes.iter().enumerate() {
            if let Some(Unanswered::Flush { followers: more }) = st.inflight.0.remove(&f) {
                followers.extend(more);
            }
            if !only_last || i + 1 == flushes.len() {
                self.emit(st, f, Rflush {});
            }
        }
        for g in followers {
            self.answer(st, &[g], false);
        }
    }
}
