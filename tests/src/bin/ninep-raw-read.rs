//! `ninep-raw-read`: the least a 9P2000.L client can do to read a file
//! sequentially, as a ceiling to measure the project's client and mount
//! against (scripts/bench-seq-read.sh).
//!
//! ```text
//! ninep-raw-read --addr 127.0.0.1:5640 --aname /srv/export --path big --depth 8
//!     [--msize 1048600] [--uname root] [--n-uname 0] [--rounds 1]
//! ```
//!
//! One thread, blocking std sockets, no crates and none of the project's
//! code: the messages are built and parsed by hand below, so that nothing
//! the library does (tokio, tag and fid tables, flush handling, buffer
//! placement) is in the measurement. Tversion, Tattach, then per round:
//! Twalk to the file, Tgetattr for its size, Tlopen O_RDONLY, `depth`
//! Treads in flight (tags 1..=depth, each at the next offset; each Rread
//! sends the next Tread on its tag) until the whole file is read, Tclunk.
//! Each Tread asks for the file's iounit, or msize - 24 when the server
//! gives none. Output, one line per round:
//!
//! ```text
//! round=1 depth=8 msize=65536 io_size=65512 bytes=536870912 secs=0.412345 mib_s=1241.7
//! ```
//!
//! An Rlerror prints its errno and exits 1; bad arguments exit 2.

use std::fmt;
use std::io::{self, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::Instant;

// Message types (9P2000.L; R = T + 1).
const RLERROR: u8 = 7;
const TLOPEN: u8 = 12;
const TGETATTR: u8 = 24;
const TVERSION: u8 = 100;
const TATTACH: u8 = 104;
const TWALK: u8 = 110;
const TREAD: u8 = 116;
const TCLUNK: u8 = 120;

const NOTAG: u16 = 0xffff;
const NOFID: u32 = 0xffff_ffff;
/// size[4] type[1] tag[2]
const HEADER: usize = 7;
/// What a Tread/Rread frame adds to its data: msize - IOHDRSZ is the most
/// one Rread carries.
const IOHDRSZ: u32 = 24;
/// Twalk carries at most this many names.
const MAXWELEM: usize = 16;
/// Tgetattr request mask and Rgetattr valid bit for the size.
const GETATTR_SIZE: u64 = 0x200;
const ROOT_FID: u32 = 0;
const FILE_FID: u32 = 1;

#[derive(Debug)]
enum Error {
    Usage(String),
    Io(io::Error),
    /// The server answered `op` with Rlerror.
    Remote {
        op: &'static str,
        errno: u32,
    },
    /// The server broke the protocol (or the file changed under us).
    Protocol(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) => write!(f, "{m}"),
            Error::Io(e) => write!(f, "I/O: {e}"),
            Error::Remote { op, errno } => {
                let name = io::Error::from_raw_os_error(*errno as i32);
                write!(f, "{op}: Rlerror errno {errno}: {name}")
            }
            Error::Protocol(m) => write!(f, "protocol: {m}"),
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

type Result<T> = std::result::Result<T, Error>;

fn protocol<T>(msg: String) -> Result<T> {
    Err(Error::Protocol(msg))
}

/// One T-message being built; `finish` fills in the size.
struct Msg(Vec<u8>);

impl Msg {
    fn new(ty: u8, tag: u16) -> Msg {
        let mut v = vec![0; 4];
        v.push(ty);
        v.extend_from_slice(&tag.to_le_bytes());
        Msg(v)
    }
    fn u16(mut self, x: u16) -> Msg {
        self.0.extend_from_slice(&x.to_le_bytes());
        self
    }
    fn u32(mut self, x: u32) -> Msg {
        self.0.extend_from_slice(&x.to_le_bytes());
        self
    }
    fn u64(mut self, x: u64) -> Msg {
        self.0.extend_from_slice(&x.to_le_bytes());
        self
    }
    /// A string: u16 length, then the bytes.
    fn str(self, s: &str) -> Msg {
        let mut m = self.u16(s.len() as u16);
        m.0.extend_from_slice(s.as_bytes());
        m
    }
    fn finish(mut self) -> Vec<u8> {
        let n = self.0.len() as u32;
        self.0[..4].copy_from_slice(&n.to_le_bytes());
        self.0
    }
}

/// Little-endian integer at `at` in `b`; a short body is a protocol error.
fn le<const N: usize>(b: &[u8], at: usize) -> Result<[u8; N]> {
    match b.get(at..at + N) {
        Some(s) => Ok(s.try_into().expect("slice of length N")),
        None => protocol(format!("reply body of {} bytes is too short", b.len())),
    }
}
fn u32_at(b: &[u8], at: usize) -> Result<u32> {
    le(b, at).map(u32::from_le_bytes)
}
fn u64_at(b: &[u8], at: usize) -> Result<u64> {
    le(b, at).map(u64::from_le_bytes)
}

struct Conn {
    /// Replies come through a large buffer: a few big reads per Rread
    /// rather than one read for the header and one for the data.
    rd: BufReader<TcpStream>,
    /// The body of the last reply.
    body: Vec<u8>,
    msize: u32,
}

impl Conn {
    fn send(&mut self, frame: &[u8]) -> Result<()> {
        // Tread frames are 23 bytes: they go out at once (TCP_NODELAY) and
        // the socket buffers hold `depth` of them while we are busy reading
        // replies, so one thread can both send and receive.
        let mut w: &TcpStream = self.rd.get_ref();
        Ok(w.write_all(frame)?)
    }

    /// Reads one reply into `body`; returns its type and tag. Rlerror
    /// becomes `Error::Remote` for `op`.
    fn recv(&mut self, op: &'static str) -> Result<(u8, u16)> {
        let mut h = [0u8; HEADER];
        self.rd.read_exact(&mut h)?;
        let size = u32::from_le_bytes(h[..4].try_into().expect("4 bytes"));
        if size < HEADER as u32 || size > self.msize {
            return protocol(format!("reply size {size} (msize {})", self.msize));
        }
        let (ty, tag) = (h[4], u16::from_le_bytes([h[5], h[6]]));
        self.body.resize(size as usize - HEADER, 0);
        self.rd.read_exact(&mut self.body)?;
        if ty == RLERROR {
            let errno = u32_at(&self.body, 0)?;
            return Err(Error::Remote { op, errno });
        }
        Ok((ty, tag))
    }

    /// One request at a time (setup and teardown): tag 0, the reply must
    /// be type `ty + 1` with the same tag.
    fn rpc(&mut self, op: &'static str, frame: Vec<u8>) -> Result<&[u8]> {
        let (want_ty, want_tag) = (frame[4] + 1, u16::from_le_bytes([frame[5], frame[6]]));
        self.send(&frame)?;
        let (ty, tag) = self.recv(op)?;
        if ty != want_ty || tag != want_tag {
            return protocol(format!("{op}: reply type {ty} tag {tag}"));
        }
        Ok(&self.body)
    }
}

struct Args {
    addr: String,
    aname: String,
    path: String,
    depth: u16,
    msize: u32,
    uname: String,
    n_uname: u32,
    rounds: u32,
}

const USAGE: &str = "usage: ninep-raw-read --addr HOST:PORT --aname A --path P --depth N \
                     [--msize M] [--uname U] [--n-uname N] [--rounds R]";

fn bad(m: String) -> Error {
    Error::Usage(format!("{m}\n{USAGE}"))
}

fn num<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T> {
    v.parse().map_err(|_| bad(format!("bad {flag}: {v}")))
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        addr: String::new(),
        aname: String::new(),
        path: String::new(),
        depth: 0,
        // As ninep-bench asks: 1 MiB of data per Tread.
        msize: (1 << 20) + IOHDRSZ,
        uname: "root".into(),
        n_uname: 0,
        rounds: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let val = it
            .next()
            .ok_or_else(|| bad(format!("{flag} needs a value")))?;
        match flag.as_str() {
            "--addr" => a.addr = val,
            "--aname" => a.aname = val,
            "--path" => a.path = val,
            "--depth" => a.depth = num(&flag, &val)?,
            "--msize" => a.msize = num(&flag, &val)?,
            "--uname" => a.uname = val,
            "--n-uname" => a.n_uname = num(&flag, &val)?,
            "--rounds" => a.rounds = num(&flag, &val)?,
            _ => return Err(bad(format!("unknown argument {flag}"))),
        }
    }
    if a.addr.is_empty() || a.path.is_empty() {
        return Err(bad("--addr and --path are required".into()));
    }
    // Tags 1..=depth must stay below NOTAG.
    if a.depth == 0 || a.depth == NOTAG {
        return Err(bad("--depth must be 1 to 65534".into()));
    }
    if a.msize <= IOHDRSZ || a.rounds == 0 {
        return Err(bad("--msize must exceed 24, --rounds be at least 1".into()));
    }
    Ok(a)
}

/// Tversion and Tattach (as ROOT_FID); returns the connection with the
/// msize the server granted.
fn connect(a: &Args) -> Result<Conn> {
    let sock = TcpStream::connect(&a.addr)?;
    sock.set_nodelay(true)?;
    let mut c = Conn {
        rd: BufReader::with_capacity(4 << 20, sock),
        body: Vec::new(),
        msize: a.msize,
    };
    let tv = Msg::new(TVERSION, NOTAG).u32(a.msize).str("9P2000.L");
    let b = c.rpc("Tversion", tv.finish())?;
    let granted = u32_at(b, 0)?;
    let version = b.get(6..).map(String::from_utf8_lossy).unwrap_or_default();
    if version != "9P2000.L" || granted > a.msize || granted <= IOHDRSZ {
        return protocol(format!("Rversion {version:?} msize {granted}"));
    }
    c.msize = granted;
    let ta = Msg::new(TATTACH, 0).u32(ROOT_FID).u32(NOFID);
    let ta = ta.str(&a.uname).str(&a.aname).u32(a.n_uname);
    c.rpc("Tattach", ta.finish())?;
    Ok(c)
}

/// Twalk from ROOT_FID to FILE_FID, at most 16 names per Twalk (the
/// later ones walk FILE_FID onwards in place).
fn walk(c: &mut Conn, path: &str) -> Result<()> {
    let names: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut from = ROOT_FID;
    // No names: one Twalk that clones the root.
    for chunk in names
        .chunks(MAXWELEM)
        .chain(names.is_empty().then_some(&[][..]))
    {
        let mut tw = Msg::new(TWALK, 0)
            .u32(from)
            .u32(FILE_FID)
            .u16(chunk.len() as u16);
        for n in chunk {
            tw = tw.str(n);
        }
        let b = c.rpc("Twalk", tw.finish())?;
        // nwqid[2]; fewer qids than names: the first missing one is absent.
        let nwqid = u16::from_le_bytes(le(b, 0)?) as usize;
        if nwqid != chunk.len() {
            return protocol(format!("Twalk {path:?}: {nwqid} of {} names", chunk.len()));
        }
        from = FILE_FID;
    }
    Ok(())
}

/// One whole read of FILE_FID (open) of `size` bytes with `depth` Treads of
/// `io` bytes in flight; returns the bytes read.
fn read_file(c: &mut Conn, size: u64, io: u32, depth: u16) -> Result<u64> {
    // Per tag (index tag - 1): the offset and length of its Tread in flight.
    let mut slots: Vec<Option<(u64, u32)>> = vec![None; depth as usize];
    let mut next = 0u64; // first offset not yet asked for
    let mut in_flight = 0usize;
    let mut total = 0u64;
    let tread = |tag: u16, off: u64, len: u32| {
        Msg::new(TREAD, tag)
            .u32(FILE_FID)
            .u64(off)
            .u32(len)
            .finish()
    };
    for tag in 1..=depth {
        if next >= size {
            break;
        }
        let len = (size - next).min(u64::from(io)) as u32;
        c.send(&tread(tag, next, len))?;
        slots[tag as usize - 1] = Some((next, len));
        next += u64::from(len);
        in_flight += 1;
    }
    while in_flight > 0 {
        let (ty, tag) = c.recv("Tread")?;
        let i = usize::from(tag).wrapping_sub(1);
        let Some(&Some((off, len))) = slots.get(i) else {
            return protocol(format!("reply type {ty} with a tag not in flight: {tag}"));
        };
        // count[4] data[count]
        let count = u32_at(&c.body, 0)?;
        if ty != TREAD + 1 || count > len || c.body.len() != 4 + count as usize {
            return protocol(format!("tag {tag}: type {ty}, count {count} of {len}"));
        }
        if count == 0 {
            return protocol(format!("end of file at {off} of a {size}-byte file"));
        }
        total += u64::from(count);
        // A short read before the end: ask again for the rest, same tag.
        let (off, len) = if count < len {
            (off + u64::from(count), len - count)
        } else if next < size {
            let len = (size - next).min(u64::from(io)) as u32;
            next += u64::from(len);
            (next - u64::from(len), len)
        } else {
            slots[i] = None;
            in_flight -= 1;
            continue;
        };
        slots[i] = Some((off, len));
        c.send(&tread(tag, off, len))?;
    }
    Ok(total)
}

/// One round: walk, size, open, read, clunk; prints the round's line.
fn round(c: &mut Conn, a: &Args, n: u32) -> Result<()> {
    walk(c, &a.path)?;
    let tg = Msg::new(TGETATTR, 0).u32(FILE_FID).u64(GETATTR_SIZE);
    let b = c.rpc("Tgetattr", tg.finish())?;
    // valid[8] qid[13] mode[4] uid[4] gid[4] nlink[8] rdev[8] size[8]
    if u64_at(b, 0)? & GETATTR_SIZE == 0 {
        return protocol("Rgetattr without the size".into());
    }
    let size = u64_at(b, 49)?;
    let max_io = c.msize - IOHDRSZ;
    let b = c.rpc("Tlopen", Msg::new(TLOPEN, 0).u32(FILE_FID).u32(0).finish())?;
    // qid[13] iounit[4]; 0 (or more than fits) means msize - 24.
    let io = match u32_at(b, 13)? {
        0 => max_io,
        n => n.min(max_io),
    };
    let start = Instant::now();
    let got = read_file(c, size, io, a.depth)?;
    let secs = start.elapsed().as_secs_f64();
    c.rpc("Tclunk", Msg::new(TCLUNK, 0).u32(FILE_FID).finish())?;
    if got != size {
        return protocol(format!("read {got} bytes of a {size}-byte file"));
    }
    println!(
        "round={n} depth={} msize={} io_size={io} bytes={got} secs={secs:.6} mib_s={:.1}",
        a.depth,
        c.msize,
        got as f64 / secs / f64::from(1 << 20)
    );
    Ok(())
}

fn run() -> Result<()> {
    let a = parse_args()?;
    let mut c = connect(&a)?;
    for n in 1..=a.rounds {
        round(&mut c, &a, n)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ninep-raw-read: {e}");
            ExitCode::from(if matches!(e, Error::Usage(_)) { 2 } else { 1 })
        }
    }
}
