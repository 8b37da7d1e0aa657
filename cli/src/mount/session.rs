//! The mount's life inside the runtime: connect, attach once to check the
//! tree, mount, then serve until unmounted from outside or told to stop by
//! a signal.

use std::io;
use std::path::Path;

use ninep_client::{Address, Client, Config, Dialect, Poller};
use ninep_fuse::Reconnect;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tracing::{debug, info, warn};

use super::errors::{attach_failed, connect_failed, Failure};
use super::Plan;
use crate::stats_report::Report;
use crate::stats_socket::Control;

/// At or below this msize, every read and write is split into many small
/// messages: worth a warning.
const SMALL_MSIZE: u32 = 8 << 10;

/// SIGINT, SIGTERM and SIGHUP: each one unmounts.
struct Signals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl Signals {
    fn install() -> io::Result<Self> {
        Ok(Signals {
            int: signal(SignalKind::interrupt())?,
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    /// The name of the next signal.
    async fn next(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
            _ = self.hup.recv() => "SIGHUP",
        }
    }
}

/// Mount, call `ready` once the mount is up, serve until it ends. The
/// connections' sockets and the mount's device are added to `poller`,
/// the set a busy-polling runtime looks at (see `runtime.rs`).
pub async fn run(
    plan: &Plan,
    poller: Option<Poller>,
    ready: impl FnOnce() -> io::Result<()>,
) -> Result<(), Failure> {
    // Installed first so that no signal between the mount and the wait
    // below can kill the process and leave a dead mount behind.
    let mut signals =
        Signals::install().map_err(|e| Failure::mount(format!("cannot handle signals: {e}")))?;
    let mut usr1 = signal(SignalKind::user_defined1())
        .map_err(|e| Failure::mount(format!("cannot handle signals: {e}")))?;
    let mounting = async {
        let dial = Config {
            poller: poller.clone(),
            ..plan.opts.config()
        };
        let client = connect_and_check(plan, &dial).await?;
        let mut cfg = plan.opts.mount_config(&plan.fsname, plan.unprivileged);
        cfg.poller = poller;
        let addr = plan.addr.clone();
        cfg.reconnect = Some(match plan.opts.reconnect {
            Some(give_up) => Reconnect {
                give_up,
                ..Reconnect::new(addr, dial)
            },
            None => Reconnect::replace_only(addr, dial),
        });
        ninep_fuse::mount(client, cfg, &plan.mountpoint)
            .await
            .map_err(|e| mount_failed(plan, &e))
    };
    let mut mount = tokio::select! {
        m = mounting => m?,
        name = signals.next() => {
            // Stopped anywhere, even just after fusermount3 mounted.
            detach(&plan.mountpoint, plan.unprivileged);
            return Err(Failure::mount(format!("{name} before the mount was up: nothing was mounted")))
        }
    };
    let via = if plan.unprivileged {
        " (through fusermount3)"
    } else {
        ""
    };
    info!(
        "mounted {} on {}{via}",
        plan.fsname,
        plan.mountpoint.display()
    );
    let report = {
        let src = mount.stats_source();
        let (mp, server) = (plan.mountpoint.display().to_string(), plan.fsname.clone());
        let every = plan.opts.flush_probe;
        move || Report::of(&src, &mp, &server, every)
    };
    // Ends with this function (its pipe closes), as the process does.
    let _watcher = match plan.opts.auto_unmount {
        true => match super::unmounter::start(&plan.mountpoint, plan.unprivileged) {
            Ok(w) => Some(w),
            Err(e) => {
                warn!("auto_unmount: cannot start the watcher: {e}");
                None
            }
        },
        false => None,
    };
    // Removed (by its drop) when this function returns: after the unmount.
    let _control = match Control::start(&plan.mountpoint, report.clone()) {
        Ok(c) => Some(c),
        Err(e) => {
            warn!("no control socket, so no `ninep-mount stats` for this mount: {e}");
            None
        }
    };
    if let Err(e) = ready() {
        warn!("cannot report the mount as up: {e}");
    }
    // A systemd unit of Type=notify (in the foreground: the daemon is not
    // the unit's main process) learns the mount is up.
    if plan.foreground {
        if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
            warn!("cannot tell systemd the mount is up: {e}");
        }
    }
    let end = loop {
        tokio::select! {
            r = mount.wait() => break End::Unmounted(r),
            name = signals.next() => break End::Signal(name),
            // SIGUSR1: the counters to the log (fids in use, inodes,
            // handles, requests, flushes, quarantined tags, violations),
            // and the report `ninep-mount stats` shows.
            _ = usr1.recv() => {
                info!("stats: {:?}", mount.stats());
                info!("{}", report().text());
            }
        }
    };
    match end {
        End::Unmounted(Ok(())) => {
            info!("{} was unmounted", plan.mountpoint.display());
            Ok(())
        }
        End::Unmounted(Err(e)) => {
            let mp = plan.mountpoint.display();
            warn!(
                "{e}: every request on {mp} now fails with EIO until it is unmounted \
                 (umount {mp}, or fusermount3 -u {mp})"
            );
            // The mount stays: were it detached, the empty directory under
            // it would take the writes meant for the server.
            let signalled = loop {
                tokio::select! {
                    _ = mount.session_end() => break None,
                    name = signals.next() => break Some(name),
                    _ = usr1.recv() => info!("{}", report().text()),
                }
            };
            match signalled {
                Some(name) => stop(plan, mount, name, &mut signals).await,
                None => info!("{mp} was unmounted"),
            }
            Err(Failure::mount(format!(
                "the mount ended with an error: {e}"
            )))
        }
        End::Signal(name) => {
            stop(plan, mount, name, &mut signals).await;
            Ok(())
        }
    }
}

/// Unmount after signal `name`; a second signal stops waiting for it.
async fn stop(plan: &Plan, mount: ninep_fuse::Mount, name: &str, signals: &mut Signals) {
    let mp = plan.mountpoint.display();
    info!("{name}: unmounting {mp}");
    debug!("at unmount: {:?}", mount.stats());
    let unmounted = tokio::select! {
        r = mount.unmount() => r,
        again = signals.next() => Err(io::Error::other(format!("{again} while unmounting"))),
    };
    match unmounted {
        Ok(()) => {}
        // Mount::unmount has detached it already.
        Err(e) if e.kind() == io::ErrorKind::ResourceBusy => warn!(
            "{mp} was busy (files still open on it): detached lazily; \
             those files now fail with ENOTCONN"
        ),
        Err(e) => {
            warn!("cannot unmount {mp}: {e}; detaching it lazily");
            detach(&plan.mountpoint, plan.unprivileged);
        }
    }
}

enum End {
    Unmounted(io::Result<()>),
    Signal(&'static str),
}

/// Connect with `dial`, log what was negotiated, and attach once (then
/// clunk) so that a wrong aname or user is told as such before anything is
/// mounted.
async fn connect_and_check(plan: &Plan, dial: &Config) -> Result<Client, Failure> {
    let o = &plan.opts;
    let forced = (o.dialects.len() == 1).then(|| o.dialects[0]);
    let client = Client::connect(&plan.addr, dial)
        .await
        .map_err(|e| connect_failed(&plan.addr, &e, forced))?;
    log_negotiated(&plan.addr, client.dialect(), client.msize(), o.msize);
    let late = |what: &str| {
        Failure::mount(format!(
            "the server at {} did not answer {what} within {:?}: it may be overloaded or \
             stuck (-o timeout=SECONDS waits longer)",
            plan.addr, o.timeout
        ))
    };
    let root = tokio::time::timeout(o.timeout, client.attach(&o.uname, &o.aname, o.n_uname))
        .await
        .map_err(|_| late("Tattach"))?
        .map_err(|e| attach_failed(&plan.addr, &o.aname, &o.uname, o.n_uname, &e))?;
    // Waited for: a clunk still in flight when a failed mount drops the
    // client would come back to a closed session.
    match tokio::time::timeout(o.timeout, root.clunk()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => warn!("clunk of the checking attach failed: {e}"),
        Err(_) => return Err(late("Tclunk")),
    }
    Ok(client)
}

fn log_negotiated(addr: &Address, dialect: Dialect, msize: u32, asked: u32) {
    info!("{addr}: negotiated {dialect}, msize {msize}");
    if msize <= SMALL_MSIZE {
        let cause = if msize < asked {
            format!("the server granted only {msize} of the {asked} asked")
        } else {
            "ask for more with -o msize=".to_string()
        };
        warn!(
            "msize {msize} is 8 KiB or less: reads and writes go in pieces of at most \
             {} bytes and will be slow ({cause})",
            msize.saturating_sub(24)
        );
    }
}

fn mount_failed(plan: &Plan, e: &io::Error) -> Failure {
    let via = if plan.unprivileged {
        " (through fusermount3; see its message above)"
    } else {
        ""
    };
    Failure::mount(format!(
        "cannot mount {} on {}{via}: {e}",
        plan.fsname,
        plan.mountpoint.display()
    ))
}

/// Last resort when an unmount failed: a lazy unmount, which detaches the
/// mount now and lets it go once nothing uses it.
pub fn detach(mountpoint: &Path, unprivileged: bool) {
    let table = ninep_fuse::mountinfo::now();
    if ninep_fuse::mountinfo::mounted_at(&table, mountpoint).is_none() {
        return;
    }
    let result = ninep_fuse::umount(mountpoint, unprivileged, true);
    if let Err(e) = result {
        warn!("cannot detach {}: {e}", mountpoint.display());
    }
}
