//! Where a mount's log lines go. While the command holds its terminal,
//! to stderr; once a background mount has let go of it (stdio on
//! /dev/null), to the system log through /dev/log (journald and rsyslog
//! both listen there), so that reconnects, give-ups, the watchdog and
//! flush-rule warnings are not lost. `-o logfile=PATH` adds a file, with
//! times, in either case.

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The log levels of a mount, unless RUST_LOG says otherwise.
const DEFAULT: &str = "warn,ninep_mount=info,ninep_fuse=info";
/// What `-d` adds: a trace of every 9P message.
const DEBUG: &str = "ninep_mount=debug,ninep_fuse=debug,ninep_client=trace";

/// Set once the process has let go of its terminal.
static DETACHED: AtomicBool = AtomicBool::new(false);

type Syslog = syslog::Logger<syslog::LoggerBackend, syslog::Formatter3164>;

/// The system log, once detached and if there is one.
static SYSLOG: Mutex<Option<Syslog>> = Mutex::new(None);

/// Logging for a mount: info for this command and the adapter unless
/// RUST_LOG says otherwise; `debug` adds a trace of every 9P message;
/// `logfile` also gets every line, with its time. The file is opened now,
/// so that a path that cannot be written is told on the terminal.
pub fn init(debug: bool, logfile: Option<&Path>) -> io::Result<()> {
    let file = match logfile {
        Some(p) => Some(Arc::new(Mutex::new(
            File::options()
                .create(true)
                .append(true)
                .open(p)
                .map_err(|e| {
                    io::Error::new(e.kind(), format!("-o logfile={}: {e}", p.display()))
                })?,
        ))),
        None => None,
    };
    let filter = || {
        let base = std::env::var("RUST_LOG").unwrap_or_else(|_| DEFAULT.into());
        let wanted = if debug {
            format!("{base},{DEBUG}")
        } else {
            base
        };
        EnvFilter::try_new(&wanted).unwrap_or_else(|e| {
            eprintln!("ninep-mount: RUST_LOG ignored: {e}");
            EnvFilter::new(if debug {
                format!("{DEFAULT},{DEBUG}")
            } else {
                DEFAULT.into()
            })
        })
    };
    // A person reads the terminal: times and module paths only in debug.
    let terminal = tracing_subscriber::fmt::layer()
        .with_writer(Terminal)
        .with_ansi(io::stderr().is_terminal())
        .with_target(debug);
    let terminal = if debug {
        terminal.boxed()
    } else {
        terminal.without_time().boxed()
    };
    // The system log stamps its own time.
    let system = tracing_subscriber::fmt::layer()
        .with_writer(SystemLog)
        .with_ansi(false)
        .with_target(debug)
        .without_time();
    let file = file.map(|f| {
        tracing_subscriber::fmt::layer()
            .with_writer(LogFile(f))
            .with_ansi(false)
            .with_target(debug)
    });
    tracing_subscriber::registry()
        .with(filter())
        .with(terminal)
        .with(system)
        .with(file)
        .init();
    Ok(())
}

/// The terminal is gone (stdio now /dev/null): from now on, log to the
/// system log, if this machine has one.
pub fn detach() {
    let formatter = syslog::Formatter3164 {
        facility: syslog::Facility::LOG_DAEMON,
        hostname: None,
        process: "ninep-mount".into(),
        pid: std::process::id(),
    };
    if let Ok(logger) = syslog::unix(formatter) {
        *SYSLOG.lock().unwrap_or_else(|e| e.into_inner()) = Some(logger);
    }
    DETACHED.store(true, Ordering::SeqCst);
}

/// stderr until detached, then nothing.
struct Terminal;

impl<'a> MakeWriter<'a> for Terminal {
    type Writer = Box<dyn Write + 'a>;

    fn make_writer(&'a self) -> Self::Writer {
        match DETACHED.load(Ordering::Relaxed) {
            false => Box::new(io::stderr()),
            true => Box::new(io::sink()),
        }
    }
}

/// Nothing until detached, then the system log.
struct SystemLog;

impl<'a> MakeWriter<'a> for SystemLog {
    type Writer = SystemLine;

    fn make_writer(&'a self) -> SystemLine {
        SystemLine {
            level: Level::INFO,
            line: Vec::new(),
            on: DETACHED.load(Ordering::Relaxed),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> SystemLine {
        SystemLine {
            level: *meta.level(),
            line: Vec::new(),
            on: DETACHED.load(Ordering::Relaxed),
        }
    }
}

/// A line for the system log, sent whole (at its level) when dropped.
struct SystemLine {
    level: Level,
    line: Vec<u8>,
    on: bool,
}

impl Write for SystemLine {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.on {
            self.line.extend_from_slice(buf);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for SystemLine {
    fn drop(&mut self) {
        if self.line.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.line);
        let text = text.trim_end();
        let mut guard = SYSLOG.lock().unwrap_or_else(|e| e.into_inner());
        let Some(log) = guard.as_mut() else {
            return;
        };
        // Nowhere to tell of a failure to log.
        let _ = match self.level {
            Level::ERROR => log.err(text),
            Level::WARN => log.warning(text),
            Level::INFO => log.info(text),
            _ => log.debug(text),
        };
    }
}

/// `-o logfile=`: every line, whether detached or not.
struct LogFile(Arc<Mutex<File>>);

impl<'a> MakeWriter<'a> for LogFile {
    type Writer = LogFileLine<'a>;

    fn make_writer(&'a self) -> LogFileLine<'a> {
        LogFileLine(&self.0)
    }
}

/// One write to the log file, under its lock.
struct LogFileLine<'a>(&'a Mutex<File>);

impl Write for LogFileLine<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}
