//! The server's record of every message it received and sent, in order,
//! with the time each was read or written: for assertions on order and
//! timing, and for a readable dump when a test fails.

use std::fmt;
use std::sync::Mutex;
use std::time::Instant;

use ninep_client::Tag;

/// Which way a logged message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Received from the client (decoded, or not: see the summary).
    In,
    /// Written to the client.
    Out,
    /// A reply the behaviour suppressed: produced but never written
    /// (`leak-N` after its limit).
    Dropped,
}

/// One logged message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// When it was decoded (In) or handed to the socket (Out, Dropped).
    pub at: Instant,
    /// Connection number, from 1 in the order the server accepted them.
    pub conn: u64,
    /// Which way it went.
    pub dir: Dir,
    /// The frame's tag.
    pub tag: Tag,
    /// The message's name as in the spec (`Tflush`, `Rread`), or
    /// `"undecodable"` for a frame whose body did not decode.
    pub name: &'static str,
    /// The message's `Debug` form (data shows only its length).
    pub summary: String,
}

impl LogEntry {
    pub(crate) fn now(
        conn: u64,
        dir: Dir,
        tag: Tag,
        name: &'static str,
        summary: String,
    ) -> LogEntry {
        LogEntry {
            at: Instant::now(),
            conn,
            dir,
            tag,
            name,
            summary,
        }
    }

    /// True for a message written to the client with this name and tag.
    pub fn is_out(&self, name: &str, tag: Tag) -> bool {
        self.dir == Dir::Out && self.name == name && self.tag == tag
    }
}

/// Shared by the server's connections and its handle.
#[derive(Debug)]
pub(crate) struct Log {
    start: Instant,
    entries: Mutex<Vec<LogEntry>>,
    echo: bool,
}

impl Log {
    /// A log whose dump counts time from now; `echo` prints each entry to
    /// stderr as it is added.
    pub(crate) fn new(echo: bool) -> Self {
        Log {
            start: Instant::now(),
            entries: Mutex::new(Vec::new()),
            echo,
        }
    }

    pub(crate) fn push(&self, entry: LogEntry) {
        if self.echo {
            eprintln!("{}", Line(self.start, &entry));
        }
        self.lock().push(entry);
    }

    pub(crate) fn snapshot(&self) -> Vec<LogEntry> {
        self.lock().clone()
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    /// One line per entry, times in milliseconds since the server started.
    pub(crate) fn dump(&self) -> String {
        self.lock()
            .iter()
            .map(|e| format!("{}\n", Line(self.start, e)))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<LogEntry>> {
        // A panicking test thread must not hide the log from the others.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Line<'a>(Instant, &'a LogEntry);

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Line(start, e) = self;
        let ms = e.at.saturating_duration_since(*start).as_secs_f64() * 1e3;
        let arrow = match e.dir {
            Dir::In => "<-",
            Dir::Out => "->",
            Dir::Dropped => "-x",
        };
        write!(
            f,
            "{ms:10.3} ms  conn {} {arrow} {:?} {}",
            e.conn, e.tag, e.summary
        )
    }
}
