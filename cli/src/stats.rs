//! `ninep-mount stats MOUNTPOINT [--json]`: a mount's counters and flush
//! profile, read from its control socket while it is mounted (see
//! `stats_socket` for where that is, and `stats_report` for what it says).

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::stats_report::Report;
use crate::stats_socket::{euid, fetch, socket_dir, socket_name};

/// The `stats` command line.
#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    /// Where the 9P tree is mounted
    pub mountpoint: PathBuf,
    /// Print JSON instead of text
    #[arg(long)]
    pub json: bool,
}

/// Run `stats`: exit status 0, or 1 when no mount answers.
pub fn run(args: &StatsArgs) -> ExitCode {
    match find(&args.mountpoint) {
        Ok(r) if args.json => match serde_json::to_string_pretty(&r) {
            Ok(j) => {
                println!("{j}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e.to_string()),
        },
        Ok(r) => {
            print!("{}", r.text());
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn fail(why: &str) -> ExitCode {
    eprintln!("ninep-mount: {why}");
    ExitCode::from(1)
}

/// The mount point as the mount saw it (canonical). Only its parent is
/// resolved: a stat of the mount point itself would ask the server, which
/// may be the very thing that is stuck.
fn canonical(mountpoint: &Path) -> io::Result<PathBuf> {
    let abs = std::path::absolute(mountpoint)?;
    match (abs.parent(), abs.file_name()) {
        (Some(parent), Some(name)) => Ok(std::fs::canonicalize(parent)?.join(name)),
        _ => std::fs::canonicalize(&abs),
    }
}

/// Folders where a control socket can be: the caller's own, and for root
/// every user's (root may ask about anybody's mount).
fn candidate_dirs() -> Vec<PathBuf> {
    let uid = euid();
    let mut dirs = vec![socket_dir(uid)];
    if uid != 0 {
        return dirs;
    }
    let under = |root: &str, keep: &dyn Fn(&str) -> Option<PathBuf>| -> Vec<PathBuf> {
        std::fs::read_dir(root)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| keep(&e.file_name().to_string_lossy()))
            .collect()
    };
    dirs.extend(under("/run/user", &|n| {
        Some(Path::new("/run/user").join(n).join("ninep-mount"))
    }));
    dirs.extend(under("/tmp", &|n| {
        n.starts_with("ninep-mount-")
            .then(|| Path::new("/tmp").join(n))
    }));
    dirs
}

/// Ask the mount on `mountpoint` for its report.
pub fn find(mountpoint: &Path) -> Result<Report, String> {
    let canon = canonical(mountpoint).map_err(|e| format!("{}: {e}", mountpoint.display()))?;
    let name = socket_name(&canon);
    let dirs = candidate_dirs();
    for dir in &dirs {
        let path = dir.join(&name);
        if path.exists() {
            return fetch(&path).map_err(|e| format!("{}: {e}", path.display()));
        }
    }
    let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    Err(format!(
        "no ninep-mount answers for {} (no control socket {name} in {}): is it mounted \
         with ninep-mount, by this user?",
        canon.display(),
        looked.join(", ")
    ))
}
