//! `ninep-scripted-server`: the scripted test server (9P2000.L, or
//! `--dialect 9P2000.u|9P2000`) as a
//! process, for tests of the `ninep-mount` command and for trying a client
//! by hand against each Tflush behaviour.
//!
//! ```text
//! ninep-scripted-server --listen 127.0.0.1:5640 --flush hold
//! ninep-scripted-server --listen unix:/tmp/9p.sock --flush last-only -v
//! ```
//!
//! Prints `listening on ADDR` on stdout once it accepts connections, then
//! serves until killed. Reads of `/block/N` wait until something is
//! written to `/release` (or `--read-timeout-ms` passes).

use std::io::Write;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use ninep_client::Dialect;
use ninep_tests::scripted::{Config, Endpoint, FlushBehaviour, ScriptedServer};

/// A 9P test server with blocking reads and a chosen Tflush behaviour.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// `host:port` (port 0: any free port) or `unix:/path`.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: Endpoint,
    /// correct, hold, last-only, out-of-order, rlerror, never,
    /// no-self-flush, leak-N (leak-128).
    #[arg(long, default_value = "correct")]
    flush: FlushBehaviour,
    /// Largest msize granted.
    #[arg(long, default_value_t = 64 * 1024)]
    msize: u32,
    /// Number of /block/N files.
    #[arg(long, default_value_t = 8)]
    block_files: usize,
    /// Blocked reads answer on their own after this many milliseconds.
    #[arg(long)]
    read_timeout_ms: Option<u64>,
    /// last-only: quiet period before the last Tflush is answered.
    #[arg(long, default_value_t = 50)]
    quiet_ms: u64,
    /// Print every message in and out on stderr.
    #[arg(short, long)]
    verbose: bool,
    /// The dialect served: 9P2000.L, 9P2000.u or 9P2000.
    #[arg(long, default_value = "9P2000.L", value_parser = dialect)]
    dialect: Dialect,
    /// The server's clock runs this many seconds ahead of the machine's.
    #[arg(long, default_value_t = 0)]
    clock_ahead: u64,
}

fn dialect(s: &str) -> Result<Dialect, String> {
    Dialect::from_version_string(s.as_bytes())
        .ok_or_else(|| format!("{s}: not 9P2000.L, 9P2000.u nor 9P2000"))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let config = Config {
        flush: args.flush,
        listen: args.listen.clone(),
        max_msize: args.msize,
        block_files: args.block_files,
        read_timeout: args.read_timeout_ms.map(Duration::from_millis),
        last_only_quiet: Duration::from_millis(args.quiet_ms),
        echo_log: args.verbose,
        dialect: args.dialect,
        clock_ahead: Duration::from_secs(args.clock_ahead),
    };
    let server = ScriptedServer::start_with(config)
        .with_context(|| format!("listening on {}", args.listen))?;
    let mut out = std::io::stdout();
    writeln!(out, "listening on {}", server.endpoint())?;
    out.flush()?;
    loop {
        std::thread::park();
    }
}
