//! `ninep-load`: a mixed-operation load on a directory (a ninep-mount
//! mount point), checking every answer against a model.
//!
//! ```text
//! ninep-load /mnt/dir --workers 32 --secs 300 [--seed N] [--max-size BYTES]
//! ```
//!
//! Each worker owns a subdirectory `w<N>` and keeps a model of it (names
//! and the exact bytes each file should hold). In a loop it picks one of:
//! create-and-write a file, read a file back and compare, overwrite a
//! range, rename a file (sometimes over another), stat and compare the
//! size, list the directory and compare the names, unlink a file. Any
//! error or any difference from the model is counted and printed; the run
//! ends with one summary line:
//!
//! ```text
//! done workers=32 secs=300.0 ops=123456 bytes_written=... bytes_read=... wrong_bytes=0 errors=0
//! ```
//!
//! Exit status 0 only if there were no errors and no wrong bytes. Workers
//! are threads doing plain blocking syscalls, as real programs do.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(about = "Mixed-operation load on a directory, checked against a model")]
struct Args {
    /// Directory to work in (it must exist; workers make subdirectories).
    dir: PathBuf,
    /// Worker threads.
    #[arg(long, default_value_t = 32)]
    workers: usize,
    /// How long to run.
    #[arg(long, default_value_t = 300.0)]
    secs: f64,
    /// Seed of the workers' choices (worker N uses seed + N).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Largest file a worker writes.
    #[arg(long, default_value_t = 256 * 1024)]
    max_size: usize,
    /// Most files a worker keeps at once.
    #[arg(long, default_value_t = 24)]
    max_files: usize,
}

/// Totals shared by the workers.
#[derive(Default)]
struct Totals {
    ops: AtomicU64,
    written: AtomicU64,
    read: AtomicU64,
    wrong: AtomicU64,
    errors: AtomicU64,
}

/// xorshift64*: reproducible choices without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// One worker's directory and what it must hold.
struct Worker {
    dir: PathBuf,
    model: BTreeMap<String, Vec<u8>>,
    rng: Rng,
    next_name: u64,
    args: Arc<Args>,
    totals: Arc<Totals>,
}

impl Worker {
    fn step(&mut self) -> Result<()> {
        let full = self.model.len() >= self.args.max_files;
        match self.rng.below(10) {
            0 | 1 if !full => self.create(),
            _ if self.model.is_empty() => self.create(),
            2 | 3 => self.read_back(),
            4 => self.overwrite(),
            5 => self.rename(),
            6 => self.stat(),
            7 => self.list(),
            _ => self.unlink(),
        }
    }

    fn pick(&mut self) -> String {
        let i = self.rng.below(self.model.len());
        self.model.keys().nth(i).cloned().unwrap_or_default()
    }

    fn fresh_name(&mut self) -> String {
        self.next_name += 1;
        format!("f{}", self.next_name)
    }

    fn create(&mut self) -> Result<()> {
        let name = self.fresh_name();
        let n = self.rng.below(self.args.max_size + 1);
        let data = self.rng.bytes(n);
        let path = self.dir.join(&name);
        let mut f = fs::File::create_new(&path).with_context(|| format!("create {name}"))?;
        f.write_all(&data)
            .with_context(|| format!("write {name}"))?;
        drop(f);
        self.totals.written.fetch_add(n as u64, Ordering::Relaxed);
        self.model.insert(name, data);
        Ok(())
    }

    fn read_back(&mut self) -> Result<()> {
        let name = self.pick();
        let got = fs::read(self.dir.join(&name)).with_context(|| format!("read {name}"))?;
        self.totals
            .read
            .fetch_add(got.len() as u64, Ordering::Relaxed);
        self.compare(&name, &got)
    }

    fn compare(&self, name: &str, got: &[u8]) -> Result<()> {
        let want = &self.model[name];
        if got == want.as_slice() {
            return Ok(());
        }
        let wrong = got.iter().zip(want.iter()).filter(|(a, b)| a != b).count()
            + got.len().abs_diff(want.len());
        self.totals.wrong.fetch_add(wrong as u64, Ordering::Relaxed);
        bail!(
            "{}: {wrong} wrong bytes (got {} bytes, want {})",
            self.dir.join(name).display(),
            got.len(),
            want.len()
        )
    }

    fn overwrite(&mut self) -> Result<()> {
        let name = self.pick();
        let len = self.model[&name].len();
        let at = self.rng.below(len + 1);
        let n = self.rng.below(64 * 1024);
        let patch = self.rng.bytes(n);
        let mut f = fs::OpenOptions::new()
            .write(true)
            .open(self.dir.join(&name))
            .with_context(|| format!("open {name} to write"))?;
        f.seek(SeekFrom::Start(at as u64))?;
        f.write_all(&patch)
            .with_context(|| format!("overwrite {name}"))?;
        drop(f);
        let model = self.model.get_mut(&name).context("model")?;
        if model.len() < at + n {
            model.resize(at + n, 0);
        }
        model[at..at + n].copy_from_slice(&patch);
        self.totals.written.fetch_add(n as u64, Ordering::Relaxed);
        // Read it back through a fresh open.
        let mut got = Vec::new();
        fs::File::open(self.dir.join(&name))?.read_to_end(&mut got)?;
        self.compare(&name, &got)
    }

    fn rename(&mut self) -> Result<()> {
        let from = self.pick();
        let to = if self.model.len() > 1 && self.rng.below(3) == 0 {
            self.pick() // over an existing file (or itself: a no-op)
        } else {
            self.fresh_name()
        };
        fs::rename(self.dir.join(&from), self.dir.join(&to))
            .with_context(|| format!("rename {from} {to}"))?;
        let data = self.model.remove(&from).context("model")?;
        self.model.insert(to, data);
        Ok(())
    }

    fn stat(&mut self) -> Result<()> {
        let name = self.pick();
        let m = fs::metadata(self.dir.join(&name)).with_context(|| format!("stat {name}"))?;
        let want = self.model[&name].len() as u64;
        if m.len() != want || !m.is_file() {
            bail!(
                "stat {name}: size {} file={}, want {want}",
                m.len(),
                m.is_file()
            );
        }
        Ok(())
    }

    fn list(&mut self) -> Result<()> {
        let mut names = Vec::new();
        for e in fs::read_dir(&self.dir).context("readdir")? {
            names.push(e?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        let want: Vec<&String> = self.model.keys().collect();
        if names.iter().collect::<Vec<_>>() != want {
            bail!("{}: listing {names:?}, want {want:?}", self.dir.display());
        }
        Ok(())
    }

    fn unlink(&mut self) -> Result<()> {
        let name = self.pick();
        fs::remove_file(self.dir.join(&name)).with_context(|| format!("unlink {name}"))?;
        self.model.remove(&name);
        Ok(())
    }
}

fn run_worker(mut w: Worker, until: Instant) {
    while Instant::now() < until {
        if let Err(e) = w.step() {
            w.totals.errors.fetch_add(1, Ordering::Relaxed);
            eprintln!("error {}: {e:#}", w.dir.display());
            // Resynchronise the model with what is there, once.
            if let Err(e) = resync(&mut w) {
                eprintln!("error {}: resync: {e:#}", w.dir.display());
                return;
            }
        }
        w.totals.ops.fetch_add(1, Ordering::Relaxed);
    }
}

/// After an error: take what is on disk as the model.
fn resync(w: &mut Worker) -> Result<()> {
    w.model.clear();
    for e in fs::read_dir(&w.dir)? {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        w.model.insert(name, fs::read(e.path())?);
    }
    Ok(())
}

fn make_dir(root: &Path, i: usize) -> Result<PathBuf> {
    let d = root.join(format!("w{i}"));
    if d.exists() {
        fs::remove_dir_all(&d).with_context(|| format!("clear {}", d.display()))?;
    }
    fs::create_dir(&d).with_context(|| format!("mkdir {}", d.display()))?;
    Ok(d)
}

fn main() -> Result<()> {
    let args = Arc::new(Args::parse());
    let totals = Arc::new(Totals::default());
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(args.secs);
    let mut threads = Vec::new();
    for i in 0..args.workers {
        let w = Worker {
            dir: make_dir(&args.dir, i)?,
            model: BTreeMap::new(),
            rng: Rng(args
                .seed
                .wrapping_add(i as u64)
                .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                | 1),
            next_name: 0,
            args: args.clone(),
            totals: totals.clone(),
        };
        threads.push(std::thread::spawn(move || run_worker(w, until)));
    }
    for t in threads {
        let _ = t.join();
    }
    let mut cleanup_errors = 0;
    for i in 0..args.workers {
        if fs::remove_dir_all(args.dir.join(format!("w{i}"))).is_err() {
            cleanup_errors += 1;
        }
    }
    let t = &totals;
    let (wrong, errors) = (
        t.wrong.load(Ordering::Relaxed),
        t.errors.load(Ordering::Relaxed) + cleanup_errors,
    );
    println!(
        "done workers={} secs={:.1} ops={} bytes_written={} bytes_read={} wrong_bytes={wrong} errors={errors}",
        args.workers,
        start.elapsed().as_secs_f64(),
        t.ops.load(Ordering::Relaxed),
        t.written.load(Ordering::Relaxed),
        t.read.load(Ordering::Relaxed),
    );
    if wrong > 0 || errors > 0 {
        bail!("{wrong} wrong bytes, {errors} errors");
    }
    Ok(())
}
