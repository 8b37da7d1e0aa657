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

#[derive(Parser)]
#[command(
    version,
    about = "Mount a 9P file server (9P2000.L, 9P2000.u, 9P2000) through FUSE",
    override_usage = USAGE,
    after_help = options::help(),
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
