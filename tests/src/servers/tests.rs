//! The launchers against the real binaries.
use super::*;
use std::io::Write;

const NOTAG: u16 = 0xffff;
const NOFID: u32 = !0;
const TVERSION: u8 = 100;
const RVERSION: u8 = 101;
const TATTACH: u8 = 104;
const RATTACH: u8 = 105;

/// A raw, blocking 9P connection: just enough to prove the flags work.
fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect to server");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

fn put_str(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(&u16::try_from(s.len()).unwrap().to_le_bytes());
    buf.extend_from_slice(s.as_bytes());
}

/// Sends one message and returns the reply's type byte.
fn rpc(stream: &mut TcpStream, kind: u8, tag: u16, body: &[u8]) -> u8 {
    let size = u32::try_from(7 + body.len()).unwrap();
    let mut msg = size.to_le_bytes().to_vec();
    msg.push(kind);
    msg.extend_from_slice(&tag.to_le_bytes());
    msg.extend_from_slice(body);
    stream.write_all(&msg).unwrap();
    let mut header = [0u8; 7];
    stream.read_exact(&mut header).expect("reply header");
    let size = u32::from_le_bytes(header[..4].try_into().unwrap()) as usize;
    assert_eq!(u16::from_le_bytes([header[5], header[6]]), tag);
    let mut rest = vec![0u8; size - 7];
    stream.read_exact(&mut rest).expect("reply body");
    header[4]
}

fn version(stream: &mut TcpStream) -> u8 {
    let mut body = 8192u32.to_le_bytes().to_vec();
    put_str(&mut body, "9P2000.L");
    rpc(stream, TVERSION, NOTAG, &body)
}

/// Tattach fid 0, no afid, uname "root", the given aname, n_uname 0.
fn attach_as_root(stream: &mut TcpStream, aname: &Path) -> u8 {
    let mut body = 0u32.to_le_bytes().to_vec();
    body.extend_from_slice(&NOFID.to_le_bytes());
    put_str(&mut body, "root");
    put_str(&mut body, aname.to_str().unwrap());
    body.extend_from_slice(&0u32.to_le_bytes());
    rpc(stream, TATTACH, 1, &body)
}

/// After a kill: the open connection ends and new ones are refused.
fn assert_gone(addr: SocketAddr, mut open: TcpStream) {
    match open.read(&mut [0u8; 16]) {
        Ok(0) => {}
        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
        other => panic!("expected EOF or reset after kill, got {other:?}"),
    }
    let err = TcpStream::connect(addr).expect_err("connect after kill");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
fn diod_attaches_root_to_each_export() {
    let (a, b) = (temp_dir().unwrap(), temp_dir().unwrap());
    let diod = Diod::start(&[a.path(), b.path()]).unwrap();
    assert!(diod.addr().ip().is_loopback());
    assert!(listens_on(diod.pid(), diod.addr().port()));
    for export in diod.exports() {
        let mut conn = connect(diod.addr());
        assert_eq!(version(&mut conn), RVERSION);
        assert_eq!(
            attach_as_root(&mut conn, export),
            RATTACH,
            "{}",
            diod.log_contents()
        );
    }
    assert!(diod.log_path().exists());
}

#[test]
fn diod_kill_closes_connections_and_frees_port() {
    let dir = temp_dir().unwrap();
    let mut diod = Diod::start(&[dir.path()]).unwrap();
    let mut conn = connect(diod.addr());
    assert_eq!(version(&mut conn), RVERSION);
    let log = diod.log_path().to_owned();
    diod.kill();
    assert_gone(diod.addr(), conn);
    diod.kill();
    drop(diod);
    assert!(!log.exists(), "log of a passing test is removed");
}

#[test]
fn unpfs_attaches_whatever_the_aname() {
    let dir = temp_dir().unwrap();
    let unpfs = Unpfs::start(dir.path()).unwrap();
    assert!(listens_on(unpfs.pid(), unpfs.addr().port()));
    for aname in [unpfs.export(), Path::new(""), Path::new("/elsewhere")] {
        let mut conn = connect(unpfs.addr());
        assert_eq!(version(&mut conn), RVERSION);
        assert_eq!(attach_as_root(&mut conn, aname), RATTACH);
    }
    assert!(unpfs.log_contents().contains("Ready to accept clients"));
}

#[test]
fn unpfs_kill_closes_connections_and_frees_port() {
    let dir = temp_dir().unwrap();
    let mut unpfs = Unpfs::start(dir.path()).unwrap();
    let mut conn = connect(unpfs.addr());
    assert_eq!(version(&mut conn), RVERSION);
    unpfs.kill();
    assert_gone(unpfs.addr(), conn);
}

#[test]
fn start_rejects_missing_export() {
    let dir = temp_dir().unwrap();
    let missing = dir.path().join("missing");
    assert_eq!(
        Diod::start(&[&missing]).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    assert_eq!(
        Unpfs::start(&missing).unwrap_err().kind(),
        io::ErrorKind::NotFound
    );
    assert_eq!(
        Diod::start(&[]).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
}

fn shell(script: &'static str) -> impl Fn(u16) -> Command {
    move |port| {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", script, "sh"])
            .arg(format!("127.0.0.1:{port}"));
        cmd
    }
}

#[test]
fn early_exit_reports_the_server_log() {
    let err = Server::start("fake", shell("echo boom >&2; exit 3")).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("fake exited") && msg.contains("boom"), "{msg}");
}

#[test]
fn lost_port_race_is_retried_then_reported() {
    let script = "echo x >> \"$0.count\"; echo 'bind: Address already in use' >&2; exit 1";
    let dir = temp_dir().unwrap();
    let counter = dir.path().join("runs");
    let err = Server::start("fake", |port| {
        let mut cmd = Command::new("/bin/sh");
        cmd.args(["-c", script])
            .arg(&counter)
            .arg(format!("127.0.0.1:{port}"));
        cmd
    })
    .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    let runs = fs::read_to_string(counter.with_extension("count")).unwrap();
    assert_eq!(runs.lines().count(), PORT_ATTEMPTS);
}

#[test]
fn a_listener_of_another_process_does_not_count() {
    let other = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = other.local_addr().unwrap().port();
    assert!(listens_on(std::process::id(), port));
    let mut child = Command::new("/bin/sleep").arg("5").spawn().unwrap();
    assert!(!listens_on(child.id(), port));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn missing_binary_says_how_to_install() {
    let err = resolve("diod-nonexistent", None, Some(OsString::new())).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
    let msg = err.to_string();
    assert!(
        msg.contains("scripts/test.sh") && msg.contains("DIOD_NONEXISTENT_BIN"),
        "{msg}"
    );
    let msg = not_found("unpfs", "gone").to_string();
    assert!(msg.contains("cargo install unpfs"), "{msg}");
}

#[test]
fn env_override_wins_and_must_be_executable() {
    let var = |v: &str| Some(("DIOD_BIN".to_owned(), OsString::from(v)));
    assert_eq!(
        resolve("diod", var("/bin/sh"), None).unwrap(),
        Path::new("/bin/sh")
    );
    let err = resolve("diod", var("/nonexistent/diod"), None).unwrap_err();
    assert!(err.to_string().contains("DIOD_BIN"), "{err}");
    let found = resolve("sh", None, Some(OsString::from("/nonexistent:/bin"))).unwrap();
    assert_eq!(found, Path::new("/bin/sh"));
}

#[test]
fn servers_are_found() {
    require("diod").unwrap();
    require("unpfs").unwrap();
}
