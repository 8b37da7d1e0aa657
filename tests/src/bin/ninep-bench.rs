//! `ninep-bench`: sequential read throughput of one file over 9P with a
//! given number of Treads in flight, and the server's bare round trip.
//!
//! ```text
//! ninep-bench 127.0.0.1:5640 --aname /srv/export --file big --depth 1,16 --runs 5
//! ninep-bench 127.0.0.1:5640 --aname /srv/export --rtt 10000
//! ```
//!
//! `--rtt N` times N Tgetattr of the attach root, one after the other: the
//! least a request that must reach the server costs, which bounds from
//! below what a mount that revalidates every name and attribute
//! (`cache=none`) can do per syscall. It prints
//! `rtt count=N median_us=.. p10_us=.. p90_us=..` before any read.
//!
//! It connects once, then for each run and each depth (depths alternate
//! within a run, so drift in machine load hits them alike) walks to the
//! file, opens it O_RDONLY, and reads it from start to end with a sliding
//! window of `depth` outstanding `File::read`s, each of `io_size()` bytes.
//! Every chunk is dropped as soon as it arrives: memory use is bounded by the
//! window, not by the file. The bytes read must equal the size from
//! Tgetattr, else the run fails.
//!
//! Output, one record per line, `key=value` fields separated by spaces:
//!
//! ```text
//! info addr=127.0.0.1:5640 msize=65536 io_size=65512 size=1073741824 runtime=current
//! run depth=1 run=1 bytes=1073741824 secs=1.234567 mib_s=829.4 mb_s=869.7 cpu_secs=0.31
//! median depth=1 runs=5 mib_s=829.4 mb_s=869.7 cpu_secs=0.31
//! peak_rss_kib=5120
//! ```
//!
//! MB/s is 10^6 bytes per second (as `dd` prints), MiB/s 2^20; `cpu_secs`
//! is the user + system CPU time this process spent in the run.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};
use futures::stream::{self, StreamExt, TryStreamExt};
use ninep_client::wire::getattr;
use ninep_client::{Address, Client, Config, File};

/// Linux O_RDONLY.
const O_RDONLY: u32 = 0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Runtime {
    /// tokio current_thread: reader, writer and the benchmark on one thread.
    Current,
    /// tokio multi_thread with 2 workers.
    Multi,
}

impl Runtime {
    fn name(self) -> &'static str {
        match self {
            Runtime::Current => "current",
            Runtime::Multi => "multi",
        }
    }
}

/// Read a file over 9P with 1..N Treads in flight and print MB/s.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Server address: host:port or unix:/path.
    addr: Address,
    /// Attach name (for diod: the export path).
    #[arg(long, default_value = "")]
    aname: String,
    /// User name to attach as.
    #[arg(long, default_value = "root")]
    uname: String,
    /// Numeric uid to attach as (9P2000.L/.u).
    #[arg(long, default_value_t = 0)]
    uid: u32,
    /// Path of the file below the attach root, '/'-separated (no read
    /// runs without it).
    #[arg(long)]
    file: Option<String>,
    /// Time this many sequential Tgetattr round trips first.
    #[arg(long, default_value_t = 0)]
    rtt: usize,
    /// Treads in flight; a comma-separated list, or the flag repeated.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 16])]
    depth: Vec<usize>,
    /// Runs per depth.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// msize to ask for (the server may grant less).
    #[arg(long, default_value_t = ninep_client::client::DEFAULT_MSIZE)]
    msize: u32,
    /// tokio runtime flavour.
    #[arg(long, value_enum, default_value_t = Runtime::Current)]
    runtime: Runtime,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.depth.contains(&0) {
        bail!("--depth must be at least 1");
    }
    if args.runs == 0 {
        bail!("--runs must be at least 1");
    }
    if args.file.is_none() && args.rtt == 0 {
        bail!("nothing to do: give --file, --rtt or both");
    }
    let rt = match args.runtime {
        Runtime::Current => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?,
        Runtime::Multi => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?,
    };
    rt.block_on(bench(&args))?;
    drop(rt);
    match peak_rss_kib() {
        Some(kib) => println!("peak_rss_kib={kib}"),
        None => println!("peak_rss_kib=unknown"),
    }
    Ok(())
}

async fn bench(args: &Args) -> Result<()> {
    let cfg = Config {
        msize: args.msize,
        ..Config::default()
    };
    let client = Client::connect(&args.addr, &cfg)
        .await
        .with_context(|| format!("connecting to {}", args.addr))?;
    let root = client
        .attach(&args.uname, &args.aname, args.uid)
        .await
        .with_context(|| format!("attaching to {:?}", args.aname))?;
    if args.rtt > 0 {
        round_trips(&root, args.rtt).await?;
    }
    let Some(file) = &args.file else {
        return Ok(());
    };
    let names: Vec<&str> = file.split('/').filter(|s| !s.is_empty()).collect();

    // Per depth: bytes per second, and CPU seconds, of each run.
    let mut results: Vec<Vec<f64>> = vec![Vec::new(); args.depth.len()];
    let mut cpus: Vec<Vec<f64>> = vec![Vec::new(); args.depth.len()];
    let mut announced = false;
    for run in 1..=args.runs {
        for (i, &depth) in args.depth.iter().enumerate() {
            let mut f = root
                .walk(&names)
                .await
                .with_context(|| format!("walking to {file:?}"))?;
            let size = f.getattr(getattr::SIZE).await?.size;
            f.lopen(O_RDONLY).await.context("opening the file")?;
            if !announced {
                println!(
                    "info addr={} msize={} io_size={} size={size} runtime={}",
                    args.addr,
                    client.msize(),
                    f.io_size(),
                    args.runtime.name()
                );
                announced = true;
            }
            let cpu0 = cpu_secs();
            let start = Instant::now();
            let got = read_all(&f, size, depth).await?;
            let secs = start.elapsed().as_secs_f64();
            let cpu = cpu_secs().zip(cpu0).map(|(b, a)| b - a);
            f.clunk().await?;
            if got != size {
                bail!("read {got} bytes of a {size}-byte file (depth {depth}, run {run})");
            }
            let bps = size as f64 / secs;
            println!(
                "run depth={depth} run={run} bytes={size} secs={secs:.6} mib_s={:.1} mb_s={:.1} cpu_secs={}",
                bps / (1 << 20) as f64,
                bps / 1e6,
                cpu.map_or("unknown".into(), |c| format!("{c:.2}"))
            );
            results[i].push(bps);
            cpus[i].extend(cpu);
        }
    }
    for ((&depth, r), c) in args.depth.iter().zip(&mut results).zip(&mut cpus) {
        let m = median(r);
        let cpu = match c.is_empty() {
            true => "unknown".into(),
            false => format!("{:.2}", median(c)),
        };
        println!(
            "median depth={depth} runs={} mib_s={:.1} mb_s={:.1} cpu_secs={cpu}",
            r.len(),
            m / (1 << 20) as f64,
            m / 1e6
        );
    }
    Ok(())
}

/// Time `n` Tgetattr of `f`, each sent when the one before is answered, and
/// print the median and the 10th and 90th percentiles in microseconds.
async fn round_trips(f: &File, n: usize) -> Result<()> {
    let mut us = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        f.getattr(getattr::BASIC).await?;
        us.push(start.elapsed().as_secs_f64() * 1e6);
    }
    let mid = median(&mut us); // sorts
    let at = |q: usize| us[(us.len() - 1) * q / 100];
    println!(
        "rtt count={n} median_us={mid:.1} p10_us={:.1} p90_us={:.1}",
        at(10),
        at(90)
    );
    Ok(())
}

/// Read `size` bytes of `f` in order with `depth` Treads in flight; each
/// chunk is counted and dropped. Returns the bytes read, which stop short
/// of `size` if the server returns a short read (the file shrank).
async fn read_all(f: &File, size: u64, depth: usize) -> Result<u64> {
    let chunk = u64::from(f.io_size());
    let reads = (0..size.div_ceil(chunk)).map(|i| {
        let off = i * chunk;
        f.read(off, chunk.min(size - off) as u32)
    });
    let mut reads = stream::iter(reads).buffered(depth);
    let mut total = 0u64;
    while let Some(data) = reads.try_next().await? {
        let want = chunk.min(size - total);
        total += data.len() as u64;
        if (data.len() as u64) < want {
            break;
        }
    }
    Ok(total)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// User + system CPU time of this process so far (all threads), from
/// /proc/self/stat, in 1/100 s steps (Linux's USER_HZ).
fn cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name, which ends with the last ')':
    // state is field 3, utime 14, stime 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// VmHWM of this process, in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
