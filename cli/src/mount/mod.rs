//! `ninep-mount [OPTIONS] HOST[:PORT] MOUNTPOINT`: mount a 9P tree.
//!
//! Everything that can be checked without the server is checked first, in
//! the process the user started (so its errors reach the terminal): the
//! options, the address, FUSE, the mount point. Then, unless `-f` or `-d`,
//! the process forks: the child mounts and the parent exits 0 once the
//! mount is up, or 32 with the child's reason (see `daemon`).
//!
//! # Layout
//! - `preflight`: checks of the mount point and of FUSE.
//! - `daemon`: fork, the pipe back to the parent, stdio to /dev/null.
//! - `session`: connect, attach, mount, serve until unmount or a signal.
//! - `errors`: failures worded for people, with mount(8)'s exit codes.
//! - `helper`: the command line of mount(8)'s `mount.ninep` helper.
//! - `runtime`: the tokio runtime, which busy-polls before it sleeps.
//! - `unmounter`: `-o auto_unmount`'s watcher process.

mod daemon;
mod errors;
pub mod helper;
mod preflight;
mod runtime;
mod session;
pub mod unmounter;

use std::path::PathBuf;
use std::process::ExitCode;

use ninep_client::Address;

use crate::options::Options;
pub use errors::{Failure, EXIT_FAILURE, EXIT_USAGE};
pub use preflight::with_standard_dirs;

/// The mount form of the command line.
#[derive(Debug, clap::Args)]
pub struct MountArgs {
    /// HOST[:PORT] (port 564 by default) or unix:/path/to/socket
    #[arg(required = true)]
    pub address: Option<String>,
    /// Where to mount (an existing, empty directory)
    #[arg(required = true)]
    pub mountpoint: Option<PathBuf>,
    /// Mount options, comma-separated (see "Mount options" below); repeatable
    #[arg(short = 'o', value_name = "OPTIONS")]
    pub options: Vec<String>,
    /// Stay in the foreground (Ctrl-C unmounts)
    #[arg(short = 'f')]
    pub foreground: bool,
    /// Debug: foreground, every 9P message traced (as -o debug)
    #[arg(short = 'd')]
    pub debug: bool,
}

/// What was decided before the mount: where, how, and as whom.
#[derive(Debug)]
pub struct Plan {
    /// The server (a Unix socket path made absolute).
    pub addr: Address,
    /// The source /proc/mounts shows: the address as written, so that
    /// mount(8) matches it with the fstab line.
    pub fsname: String,
    /// The canonical mount point.
    pub mountpoint: PathBuf,
    /// The parsed `-o` options.
    pub opts: Options,
    /// Not root: mount through fusermount3.
    pub unprivileged: bool,
    /// Stay in the foreground.
    pub foreground: bool,
    /// Trace 9P messages.
    pub debug: bool,
}

/// Run the mount form; the process's exit status.
pub fn run(args: MountArgs) -> ExitCode {
    let plan = match plan(args) {
        Ok(p) => p,
        Err(f) => return fail(&f),
    };
    if let Err(e) = crate::logging::init(plan.debug, plan.opts.logfile.as_deref()) {
        return fail(&Failure::mount(e.to_string()));
    }
    let result = if plan.foreground {
        run_here(&plan, || Ok(()))
    } else {
        run_daemon(&plan)
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => fail(&f),
    }
}

fn fail(f: &Failure) -> ExitCode {
    eprintln!("ninep-mount: {f}");
    ExitCode::from(f.code)
}

/// Parse and check everything that needs no server.
fn plan(args: MountArgs) -> Result<Plan, Failure> {
    let (Some(address), Some(mountpoint)) = (args.address, args.mountpoint) else {
        return Err(Failure::usage("a mount needs HOST[:PORT] and MOUNTPOINT"));
    };
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    let euid = unsafe { libc::geteuid() };
    let unprivileged = euid != 0;
    let mut opts = Options::for_user(ninep_fuse::user_name(euid), euid);
    for o in &args.options {
        opts.apply(o)
            .map_err(|e| Failure::usage(format!("{e:#}")))?;
    }
    opts.check().map_err(|e| Failure::usage(format!("{e:#}")))?;
    if unprivileged && !(opts.flags.nosuid && opts.flags.nodev) {
        return Err(Failure::usage(
            "-o suid and -o dev need root: a user's mount is always nosuid,nodev",
        ));
    }
    let (addr, aname) = opts
        .address(&address)
        .map_err(|e| Failure::usage(format!("{address}: {e:#}")))?;
    if let Some(a) = aname {
        if !opts.aname.is_empty() && opts.aname != a {
            return Err(Failure::usage(format!(
                "two anames: {a:?} in {address} and {:?} in -o aname=",
                opts.aname
            )));
        }
        opts.aname = a;
    }
    let addr = absolute_socket(addr)?;
    preflight::fuse_available(unprivileged).map_err(Failure::mount)?;
    let mountpoint = preflight::mount_point(&mountpoint, unprivileged).map_err(Failure::mount)?;
    let debug = args.debug || opts.debug;
    Ok(Plan {
        addr,
        fsname: address,
        mountpoint,
        opts,
        unprivileged,
        foreground: args.foreground || debug,
        debug,
    })
}

/// The daemon changes directory to `/`: a relative socket path must be
/// made absolute first.
fn absolute_socket(addr: Address) -> Result<Address, Failure> {
    match addr {
        Address::Unix(p) => std::path::absolute(&p)
            .map(Address::Unix)
            .map_err(|e| Failure::usage(format!("unix:{}: {e}", p.display()))),
        tcp => Ok(tcp),
    }
}

/// Run the mount in this process, in a fresh runtime.
fn run_here(plan: &Plan, ready: impl FnOnce() -> std::io::Result<()>) -> Result<(), Failure> {
    let (rt, poller) = runtime::build(plan.opts.busy_poll)
        .map_err(|e| Failure::mount(format!("cannot start the runtime: {e}")))?;
    let result = rt.block_on(session::run(plan, poller, ready));
    // Whatever is still running (a stuck request of a lazily detached
    // mount) must not hold the exit.
    rt.shutdown_background();
    result
}

/// Fork; the parent waits for the child's word, the child mounts.
fn run_daemon(plan: &Plan) -> Result<(), Failure> {
    let side = daemon::fork()
        .map_err(|e| Failure::mount(format!("cannot fork the mount process: {e}")))?;
    match side {
        daemon::Side::Parent(verdict) => verdict.wait().map_err(Failure::mount),
        daemon::Side::Child(reporter) => {
            // Hold no directory busy (the cwd may be under the mount).
            let _ = std::env::set_current_dir("/");
            let mut reporter = Some(reporter);
            let result = run_here(plan, || {
                let detached = daemon::detach_stdio();
                crate::logging::detach();
                let told = reporter.take().map_or(Ok(()), |r| r.ok());
                detached.and(told)
            });
            match (result, reporter) {
                // The mount never came up: the parent prints why, not us.
                (Err(f), Some(r)) => {
                    r.fail(&f.message);
                    std::process::exit(f.code.into())
                }
                (result, _) => result,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_socket_becomes_absolute() {
        let a = absolute_socket("unix:run/9p.sock".parse().unwrap()).unwrap();
        let want = std::env::current_dir().unwrap().join("run/9p.sock");
        assert_eq!(a, Address::Unix(want));
        let tcp: Address = "h:1".parse().unwrap();
        assert_eq!(absolute_socket(tcp.clone()).unwrap(), tcp);
    }
}
