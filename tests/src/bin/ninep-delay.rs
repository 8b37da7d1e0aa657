//! `ninep-delay`: a relay in front of a 9P server that holds every reply
//! for a fixed time, so that benchmarks on one machine see the round trip
//! of a network (the loopback's is tens of microseconds; users mount
//! across 0.2 to 20 ms).
//!
//! ```text
//! ninep-delay --to 127.0.0.1:5640 --delay-us 1000
//! ```
//!
//! It prints `listen=127.0.0.1:PORT` once it accepts connections and
//! relays until killed. Each reply is held for the delay after the server
//! sent it, independently of the others (replies overtake none but those
//! sent at the same moment): a longer path, not a slower link. tokio's
//! timer rounds each hold up to whole milliseconds, so measure the round
//! trip a client sees (`ninep-raw-read --depth 1`) rather than trust the
//! figure given.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use ninep_tests::tamper::{Act, Tamper};

#[derive(Parser, Debug)]
#[command(about = "Relay to a 9P server, every reply held for a fixed time")]
struct Args {
    /// The server's address (host:port).
    #[arg(long)]
    to: SocketAddr,
    /// How long to hold each reply, in microseconds.
    #[arg(long)]
    delay_us: u64,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() -> Result<()> {
    let args = Args::parse();
    let relay = Tamper::start(args.to)
        .await
        .with_context(|| format!("relay to {}", args.to))?;
    let delay = Duration::from_micros(args.delay_us);
    if !delay.is_zero() {
        relay.set(move |_, _| Act::Later(delay));
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "listen={}", relay.addr())?;
    out.flush()?;
    drop(out);
    std::future::pending::<()>().await;
    Ok(())
}
