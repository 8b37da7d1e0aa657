//! The subcommands that use a server without mounting it: `info`, `ls`,
//! `cat`, and `check` (the flush check of `check/`).

use std::io::Write;

use anyhow::{Context, Result};
use ninep_client::{Client, File};

use crate::check;
use crate::options::Options;

/// The server to talk to.
#[derive(clap::Args)]
pub struct Server {
    /// HOST[:PORT] (port 564 by default) or unix:/path/to/socket
    address: String,
    /// Options as for v9fs: aname=,uname=,n_uname=,msize=,version=
    #[arg(short = 'o', value_name = "OPTIONS")]
    options: Vec<String>,
}

/// What to do with it.
#[derive(clap::Subcommand)]
pub enum Command {
    /// Connect, negotiate and attach; print the dialect, msize and statfs.
    Info {
        #[command(flatten)]
        server: Server,
    },
    /// List a directory of the export.
    Ls {
        #[command(flatten)]
        server: Server,
        /// Path inside the export
        #[arg(default_value = "")]
        path: String,
    },
    /// Test how the server handles Tflush, case by case.
    Check {
        #[command(flatten)]
        server: Server,
        /// A file (relative to the attach root) whose read blocks: the
        /// victim for the cases that flush a blocked request
        #[arg(long, value_name = "PATH")]
        victim: Option<String>,
        /// Seconds to wait for an answer before calling it a hang
        #[arg(long, default_value_t = 2.0)]
        wait: f64,
        /// Run only these cases (repeatable)
        #[arg(long = "case", value_name = "NAME")]
        cases: Vec<String>,
        /// Print JSON instead of a table
        #[arg(long)]
        json: bool,
    },
    /// Copy a file of the export to standard output.
    Cat {
        #[command(flatten)]
        server: Server,
        /// Path inside the export
        path: String,
    },
}

fn options_of(server: &Server) -> Result<Options> {
    let mut opts = Options::default();
    for o in &server.options {
        opts.apply(o)?;
    }
    if let (_, Some(aname)) = opts.address(&server.address)? {
        if opts.aname.is_empty() {
            opts.aname = aname;
        }
    }
    // uid= once set the attach uid here; it now means file owners in a
    // mount, so say so rather than attach as someone else.
    if opts.uid.is_some() || opts.gid.is_some() {
        anyhow::bail!("uid= and gid= set file owners in a mount; the attach uid is n_uname=");
    }
    Ok(opts)
}

async fn connect(server: &Server) -> Result<(Client, File)> {
    let opts = options_of(server)?;
    let (addr, _) = opts.address(&server.address)?;
    let client = Client::connect(&addr, &opts.config()).await?;
    let root = client
        .attach(&opts.uname, &opts.aname, opts.n_uname)
        .await
        .with_context(|| format!("attach to {addr} with aname {:?} refused", opts.aname))?;
    Ok((client, root))
}

/// The names to walk for `path`, inside the export. `.` is dropped and
/// `..` refused: servers differ on where `..` of the export's root leads
/// (diod walks above its export), so no path may climb.
fn components(path: &str) -> Result<Vec<&str>> {
    let mut names = Vec::new();
    for c in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if c == ".." {
            anyhow::bail!("{path:?}: `..` is refused (a path is read inside the export)");
        }
        names.push(c);
    }
    Ok(names)
}

/// Run a subcommand: `Ok(false)` when it ran but found a failure (a check
/// case failed).
pub async fn run(cmd: Command) -> Result<bool> {
    match cmd {
        Command::Check {
            server,
            victim,
            wait,
            cases,
            json,
        } => run_check(server, victim, wait, cases, json).await,
        Command::Info { server } => info(server).await.map(|()| true),
        Command::Ls { server, path } => ls(server, path).await.map(|()| true),
        Command::Cat { server, path } => cat(server, path).await.map(|()| true),
    }
}

async fn run_check(
    server: Server,
    victim: Option<String>,
    wait: f64,
    cases: Vec<String>,
    json: bool,
) -> Result<bool> {
    let opts = options_of(&server)?;
    for c in &cases {
        if !check::CASES.iter().any(|k| k.name == c) {
            let names: Vec<_> = check::CASES
                .iter()
                .map(|k| format!("\n  {:<17} {}", k.name, k.about))
                .collect();
            anyhow::bail!("no case {c:?}; the cases are:{}", names.concat());
        }
    }
    let target = check::Target {
        addr: opts.address(&server.address)?.0,
        aname: opts.aname,
        uname: opts.uname,
        n_uname: opts.n_uname,
        msize: opts.msize,
        dialects: opts.dialects,
    };
    let wait = std::time::Duration::from_secs_f64(wait.max(0.05));
    let s = check::default_settings(target, victim, wait);
    let run = check::run_all(&s, &cases).await?;
    check::report(&run, json)
}

async fn info(server: Server) -> Result<()> {
    let (client, root) = connect(&server).await?;
    println!("server   {}", server.address);
    println!("dialect  {}", client.dialect());
    println!("msize    {}", client.msize());
    if client.dialect() == ninep_client::Dialect::L {
        let s = root.statfs().await?;
        println!(
            "blocks   {} of {} bytes, {} free",
            s.blocks, s.bsize, s.bfree
        );
        println!("files    {}, {} free", s.files, s.ffree);
    }
    Ok(())
}

async fn ls(server: Server, path: String) -> Result<()> {
    let names = components(&path)?;
    let (_client, root) = connect(&server).await?;
    let mut dir = root.walk(&names).await?;
    dir.lopen(0).await?;
    let mut names: Vec<_> = dir.readdir_all().await?;
    names.sort_by(|a, b| a.name.cmp(&b.name));
    for d in names {
        let slash = if d.qid.is_dir() { "/" } else { "" };
        println!("{}{slash}", d.name);
    }
    Ok(())
}

async fn cat(server: Server, path: String) -> Result<()> {
    let names = components(&path)?;
    let (client, root) = connect(&server).await?;
    let mut f = root.walk(&names).await?;
    f.lopen(0).await?;
    let mut out = std::io::stdout().lock();
    let mut offset = 0u64;
    loop {
        let chunk = f.read(offset, client.max_io()).await?;
        if chunk.is_empty() {
            break;
        }
        offset += chunk.len() as u64;
        out.write_all(&chunk)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::components;

    #[test]
    fn paths_stay_inside_the_export() {
        assert_eq!(components("/a//b/./c/").unwrap(), ["a", "b", "c"]);
        assert!(components("").unwrap().is_empty());
        for climbing in ["..", "/../etc/shadow", "a/../../b", "a/.."] {
            let e = components(climbing).expect_err(climbing).to_string();
            assert!(e.contains("`..` is refused"), "{climbing}: {e}");
        }
        assert_eq!(components("a/..b/c..").unwrap(), ["a", "..b", "c.."]);
    }
}
