//! `ninep-mount victimfs DIR [--delay SECONDS]`: a FUSE file system of our
//! own whose files block on read, for a server author to export from the
//! server under test, so that `check` has requests that stay in flight
//! (its `--victim`). Reads of `block0` .. `block7` wait until released,
//! then fill the whole read; `hello` reads at once.
//!
//! A read is released by SIGUSR1 to this process, after `--delay` by
//! itself, or by `check`: on the same machine, each running victimfs is
//! listed in [`REGISTRY`] (a file named by its pid, holding its mount
//! point), and `check` releases the one its victim lies in at the end of
//! each case, so that no read is left stuck in the server.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use ninep_fuse::victimfs::BlockFs;
use tokio::signal::unix::{signal, SignalKind};

/// Where running victimfs processes are listed.
pub const REGISTRY: &str = "/run/ninep-victimfs";

/// The command line of `victimfs`.
#[derive(Debug, clap::Args)]
pub struct VictimArgs {
    /// Where to mount it (an existing, empty directory); export this from
    /// the server under test and attach to it
    pub dir: PathBuf,
    /// Release each read by itself after this many seconds (default: only
    /// when released by SIGUSR1 or by `check`)
    #[arg(long, value_name = "SECONDS")]
    pub delay: Option<f64>,
}

/// Mount, serve until SIGINT or SIGTERM, unmount.
pub fn run(args: &VictimArgs) -> ExitCode {
    match serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ninep-mount victimfs: {e:#}");
            ExitCode::from(crate::mount::EXIT_FAILURE)
        }
    }
}

fn serve(args: &VictimArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    let delay = match args.delay {
        Some(s) if s.is_finite() && s > 0.0 => Some(Duration::from_secs_f64(s)),
        Some(s) => anyhow::bail!("--delay {s}: a positive number of seconds"),
        None => None,
    };
    let fs = BlockFs::mount(&args.dir)
        .with_context(|| format!("cannot mount a victimfs on {}", args.dir.display()))?;
    fs.release_after(delay);
    let entry = register(fs.path());
    eprintln!(
        "victimfs on {}: block0 .. block7 block on read until released \
         (SIGUSR1 to pid {}{}); export it and run check with --victim block0",
        fs.path().display(),
        std::process::id(),
        delay.map_or(String::new(), |d| format!(", or after {d:?}"))
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut usr1 = signal(SignalKind::user_defined1())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        loop {
            tokio::select! {
                _ = usr1.recv() => fs.release_waiting(),
                _ = int.recv() => break,
                _ = term.recv() => break,
            }
        }
        anyhow::Ok(())
    })?;
    if let Some(e) = entry {
        let _ = std::fs::remove_file(e);
    }
    fs.unmount().context("unmounting the victimfs")?;
    Ok(())
}

/// List this process in [`REGISTRY`]; the entry's path, if it could be.
fn register(mount: &Path) -> Option<PathBuf> {
    let dir = Path::new(REGISTRY);
    std::fs::create_dir_all(dir).ok()?;
    let entry = dir.join(std::process::id().to_string());
    std::fs::write(&entry, mount.as_os_str().as_encoded_bytes()).ok()?;
    Some(entry)
}

/// The pid of a running victimfs whose mount point holds `path` (a local
/// path), if there is one on this machine.
pub fn serving(path: &Path) -> Option<i32> {
    let path = std::fs::canonicalize(path).ok()?;
    std::fs::read_dir(REGISTRY)
        .ok()?
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let mount = PathBuf::from(std::fs::read_to_string(e.path()).ok()?);
            // SAFETY: kill(2) with signal 0 only checks that `pid` exists.
            let alive = unsafe { libc::kill(pid, 0) } == 0;
            (alive && path.starts_with(&mount)).then_some(pid)
        })
        .next()
}

/// Release the reads waiting in the victimfs `pid` now.
pub fn release(pid: i32) {
    // SAFETY: kill(2) of a process found in the registry, alive a moment
    // ago; SIGUSR1 is what it waits for.
    unsafe { libc::kill(pid, libc::SIGUSR1) };
}
