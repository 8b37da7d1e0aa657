//! `ninep-mount`: mount a 9P server through FUSE, or talk to it from the
//! command line.
//!
//! `ninep-mount [OPTIONS] HOST[:PORT] MOUNTPOINT` mounts (see `mount/`);
//! the subcommands `info`, `ls` and `cat` show what a server exports
//! without mounting it, `check` tests its Tflush handling, and `stats`
//! shows a mount's counters and flush profile while it is mounted.
//!
//! # Layout
//! - `options`: the `-o` options, v9fs and FUSE names.
//! - `mount`: the mount form: checks, daemon, the mount's life.
//! - `commands`: `info`, `ls`, `cat`, `check`.
//! - `logging`: a mount's log: the terminal, then the system log; a file.
//! - `check`: the flush check's cases and verdicts.
//! - `stats`: the `stats` command; `stats_report`: what it shows;
//!   `stats_socket`: the mount's control socket that serves it.
//! - `victimfs`: the victim file system a server author exports for `check`.

mod check;
mod commands;
mod logging;
mod mount;
mod options;
mod stats;
mod stats_report;
mod stats_socket;
mod victimfs;

use std::process::ExitCode;

use clap::Parser;

use mount::{MountArgs, EXIT_FAILURE, EXIT_USAGE};

const USAGE: &str = "\
ninep-mount [-f] [-d] [-o OPTIONS] HOST[:PORT][:/ANAME] MOUNTPOINT
       ninep-mount [-f] [-d] [-o OPTIONS] unix:/path/to/socket MOUNTPOINT
       mount -t ninep HOST[:PORT][:/ANAME] MOUNTPOINT [-o OPTIONS]
       ninep-mount <info|ls|cat|check> HOST[:PORT] [ARGS] [-o OPTIONS]
       ninep-mount stats MOUNTPOINT [--json]
       ninep-mount victimfs DIR [--delay SECONDS]";

pub(crate) const OPTIONS_HELP: &str = "\
Mount options (-o, comma-separated; later ones win):
  aname=PATH            tree to attach to (diod: an exported directory); or
                        after the address: HOST:564:/export
  port=N, trans=tcp|unix  v9fs's way to give the port, or a socket path as
                        the source [tcp, 564]
  uname=NAME            user name in Tattach [the caller's]
  n_uname=N             numeric uid in Tattach [the caller's]
  msize=N               largest message to ask for [1048600]
  version=V             9p2000.L, 9p2000.u or 9p2000 [try them in that order]
  cache=cto|none|loose  cto: close-to-open, as NFS: each open checks the
                        file with the server, attributes and names trusted
                        for a while; none: always current, no page cache;
                        loose: page cache and fixed TTLs, as sshfs [cto]
  acregmin=S, acregmax=S  with cache=cto: a file's attributes are trusted
                        for a tenth of its age, at least / at most S [1, 30]
  acdirmin=S, acdirmax=S  the same for directories; names and listings are
                        trusted for acdirmin, then while the directory's
                        mtime stands [1, 30]
  actimeo=S             all four at once
  cache_timeout=SECONDS with cache=loose: how long attributes, names and
                        listings are trusted [20]
  access=user|client    user: one attach per calling uid; client: one attach,
                        the kernel checks permissions [user]
  ro, rw                read-only, read-write [rw]
  nosuid, nodev, noexec  ignore set-uid bits, device files, exec bits; and
  suid, dev, exec       their opposites [root: suid,dev,exec; a user:
                        always nosuid,nodev]
  sync, dirsync         synchronous writes, directory changes [off]
  noatime, relatime, atime  access time updates [relatime, as atime]
  allow_other, noallow_other  let other users in, with the kernel checking
                        the mode bits [root: on; a user: off, and needs
                        user_allow_other in /etc/fuse.conf]
  default_permissions   let the kernel check permissions from the mode bits
                        (implied by allow_other)
  no_default_permissions  with allow_other: leave every check to the server
                        (warned about)
  uid=N, gid=N          show every file as owned by this uid / gid
  umask=OCTAL           show every file's permission bits as 0777 & ~OCTAL
  maxfids=N             hold at most N fids on the server, letting go of
                        those cached inodes keep, least recently used first
                        [the server's: learned when it refuses one]
  allow_root            let root in too (a user's mount; needs
                        user_allow_other in /etc/fuse.conf)
  flushtimeout=SECONDS  wait this long for an Rflush before the next Tflush [0.3]
  flushretries=N        at most this many Tflush per interrupted request [3]
  flushprobe=N          flush one in N read-only requests on purpose to profile
                        the server's Tflush handling (see `stats`) [0: off]
  watchdog=SECONDS      log a request that has had no reply for this long,
                        once [30; 0: off]
  timeout=SECONDS       bound on connecting and on each request made while
                        mounting [10]
  keepalive=SECONDS     after SECONDS without a reply, ask the server
                        something; no answer within SECONDS more and the
                        connection is lost (EIO, or reconnect); also TCP
                        keepalive [30; 0: off]
  reconnect[=SECONDS], noreconnect
                        when the connection is lost, dial again (with backoff)
                        for up to SECONDS instead of ending the mount; reads
                        and lookups go on, a write caught by the loss fails
                        with EIO [off; reconnect alone: 60]
  prefetch=BYTES        cto, loose: a small random read fetches the aligned
                        window of BYTES around it (one Tread at most) and
                        puts the rest in the page cache [65536; 0: off]
  read_ahead_kb=KB      cto, loose: the kernel's readahead for the mount
                        (root only; 0: the kernel's 128) [4096]
  busy_poll=US          before the mount's thread sleeps, it looks for its
                        next request or reply for up to US microseconds:
                        saves a wakeup per request in a file storm, costs
                        CPU only while requests come [50; 0: off, and one
                        thread per core as tokio's default]
  auto_unmount          unmount if the mount's process dies without doing so
                        (SIGKILL, a crash) [off]
  logfile=PATH          append every log line there too, with its time (a
                        background mount logs to the system log)
  debug                 as -d
  Accepted and ignored, as mount(8) has used them: defaults, _netdev, auto,
  noauto, user, nouser, users, nofail, async, x-*

fstab:   HOST:564:/export  /mnt/9p  ninep  nosuid,nodev,_netdev  0 0
         (type ninep needs /sbin/mount.ninep: scripts/install.sh; without
         it, type fuse.ninep-mount works through mount.fuse3)
Unmount: fusermount3 -u MOUNTPOINT (or umount MOUNTPOINT as root)
Exit status: 0 mounted (or unmounted cleanly), 1 usage error, 32 mount failure.";

#[derive(Parser)]
#[command(
    version,
    about = "Mount a 9P file server (9P2000.L, 9P2000.u, 9P2000) through FUSE",
    override_usage = USAGE,
    after_help = OPTIONS_HELP,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true,
    arg_required_else_help = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Top>,
    #[command(flatten)]
    mount: MountArgs,
}

/// The subcommands.
#[derive(clap::Subcommand)]
enum Top {
    /// Show a mount's counters and the flush profile of its connection.
    Stats(stats::StatsArgs),
    /// Mount a file system whose reads block until released: export it
    /// from the server under test, as the victim of `check` (needs root).
    Victimfs(victimfs::VictimArgs),
    #[command(flatten)]
    Server(commands::Command),
    /// Write the man page or a shell's completions to stdout (for
    /// installers: scripts/install.sh).
    #[command(hide = true)]
    Generate {
        /// man, bash, zsh or fish
        #[arg(value_enum)]
        what: Generated,
    },
    /// `-o auto_unmount`'s watcher (started by the mount itself).
    #[command(hide = true, name = mount::unmounter::SUBCOMMAND)]
    UnmountWhenGone(mount::unmounter::WatchArgs),
}

/// What `generate` writes.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Generated {
    Man,
    Bash,
    Zsh,
    Fish,
}

/// The man page (section 8, as mount helpers have) or a completion script,
/// both from the command line's own definition.
fn generate(what: Generated) -> ExitCode {
    use clap::CommandFactory;
    use clap_complete::Shell;
    let mut cmd = Cli::command().name("ninep-mount");
    let mut out = std::io::stdout().lock();
    let shell = match what {
        Generated::Man => {
            return match clap_mangen::Man::new(cmd).section("8").render(&mut out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("ninep-mount: {e}");
                    ExitCode::from(EXIT_FAILURE)
                }
            };
        }
        Generated::Bash => Shell::Bash,
        Generated::Zsh => Shell::Zsh,
        Generated::Fish => Shell::Fish,
    };
    clap_complete::generate(shell, &mut cmd, "ninep-mount", &mut out);
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    // Before any thread exists (set_var is only sound then): find
    // fusermount3 and umount where every system keeps them, whatever PATH
    // mount(8) gave us.
    let path = mount::with_standard_dirs(std::env::var_os("PATH").as_deref());
    std::env::set_var("PATH", path);
    let args = match mount::helper::from_mount(std::env::args_os().collect()) {
        mount::helper::Helper::Direct(a) | mount::helper::Helper::Mount(a) => a,
        mount::helper::Helper::Fake => return ExitCode::SUCCESS,
        mount::helper::Helper::Usage(m) => {
            eprintln!("{m}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap says 2 for a usage error; mount(8) says 1.
            return ExitCode::from(if e.exit_code() == 0 { 0 } else { EXIT_USAGE });
        }
    };
    match cli.command {
        Some(Top::Stats(args)) => stats::run(&args),
        Some(Top::Victimfs(args)) => victimfs::run(&args),
        Some(Top::Server(command)) => run_command(command),
        Some(Top::Generate { what }) => generate(what),
        Some(Top::UnmountWhenGone(args)) => {
            mount::unmounter::run(&args);
            ExitCode::SUCCESS
        }
        None => mount::run(cli.mount),
    }
}

fn run_command(command: commands::Command) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ninep-mount: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match rt.block_on(commands::run(command)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("ninep-mount: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}
