//! `ninep-mount`: talk to a 9P server from the command line.
//!
//! This version has the client side: `info`, `ls` and `cat` show what a
//! server exports without mounting it. Mounting through FUSE and the flush
//! check come next (see README.md).

mod options;

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use ninep_client::{Address, Client, File};

use options::Options;

/// Exit status for a failure to reach or use the server, as mount(8).
const EXIT_FAILURE: u8 = 32;

#[derive(Parser)]
#[command(version, about = "Use a 9P file server (9P2000.L, 9P2000.u, 9P2000)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Server {
    /// HOST[:PORT] (port 564 by default) or unix:/path/to/socket
    address: String,
    /// Options as for v9fs: aname=,uname=,uid=,msize=,version=
    #[arg(short = 'o', value_name = "OPTIONS")]
    options: Vec<String>,
}

#[derive(Subcommand)]
enum Command {
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
    /// Copy a file of the export to standard output.
    Cat {
        #[command(flatten)]
        server: Server,
        /// Path inside the export
        path: String,
    },
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ninep-mount: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    match rt.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ninep-mount: {e:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

async fn connect(server: &Server) -> Result<(Client, File)> {
    let mut opts = Options::default();
    for o in &server.options {
        opts.apply(o)?;
    }
    let addr: Address = server
        .address
        .parse()
        .map_err(|e: String| anyhow::anyhow!(e))?;
    let client = Client::connect(&addr, &opts.config()).await?;
    let root = client
        .attach(&opts.uname, &opts.aname, opts.n_uname)
        .await
        .with_context(|| format!("attach to {addr} with aname {:?} refused", opts.aname))?;
    Ok((client, root))
}

fn components(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.is_empty()).collect()
}

async fn run(cmd: Command) -> Result<()> {
    match cmd {
        Command::Info { server } => {
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
        }
        Command::Ls { server, path } => {
            let (_client, root) = connect(&server).await?;
            let mut dir = root.walk(&components(&path)).await?;
            dir.lopen(0).await?;
            let mut names: Vec<_> = dir.readdir_all().await?;
            names.sort_by(|a, b| a.name.cmp(&b.name));
            for d in names {
                let slash = if d.qid.is_dir() { "/" } else { "" };
                println!("{}{slash}", d.name);
            }
        }
        Command::Cat { server, path } => {
            let (client, root) = connect(&server).await?;
            let mut f = root.walk(&components(&path)).await?;
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
        }
    }
    Ok(())
}
