//! Where a server is and how to reach it: TCP (`host[:port]`, port 564 by
//! default) or a Unix socket (`unix:/path`).

use std::fmt;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::poller::Poller;

/// The standard 9P port.
pub const DEFAULT_PORT: u16 = 564;

/// A server address as a user writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// `host[:port]`, `[v6addr]:port`.
    Tcp {
        /// Host name or address literal (without brackets).
        host: String,
        /// Port.
        port: u16,
    },
    /// `unix:/path/to/socket`.
    Unix(PathBuf),
}

impl FromStr for Address {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("unix: needs a socket path".into());
            }
            return Ok(Address::Unix(path.into()));
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("{s}: missing ']'"))?;
            match after.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if after.is_empty() => (h, None),
                None => return Err(format!("{s}: unexpected text after ']'")),
            }
        } else if s.matches(':').count() == 1 {
            let (h, p) = s.split_once(':').unwrap_or((s, ""));
            (h, Some(p))
        } else {
            (s, None)
        };
        if host.is_empty() {
            return Err(format!("{s}: empty host"));
        }
        let port = match port {
            Some(p) => p.parse().map_err(|_| format!("{s}: bad port {p:?}"))?,
            None => DEFAULT_PORT,
        };
        Ok(Address::Tcp {
            host: host.to_string(),
            port,
        })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp { host, port } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Address::Tcp { host, port } => write!(f, "{host}:{port}"),
            Address::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// The read half of a connection.
pub type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a connection.
pub type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

impl Address {
    /// Open a connection. TCP gets `TCP_NODELAY`: we coalesce writes
    /// ourselves, and Nagle would delay small requests behind an unacked one.
    pub async fn connect(&self) -> std::io::Result<(ReadHalf, WriteHalf)> {
        self.connect_with(None, None).await
    }

    /// Dial, with TCP keepalive every `keepalive` on a TCP connection (see
    /// [`keepalive`]), and the socket added to `poller`.
    pub async fn connect_with(
        &self,
        keepalive: Option<Duration>,
        poller: Option<&Poller>,
    ) -> std::io::Result<(ReadHalf, WriteHalf)> {
        match self {
            Address::Tcp { host, port } => {
                let s = tokio::net::TcpStream::connect((host.as_str(), *port)).await?;
                s.set_nodelay(true)?;
                if let Some(every) = keepalive {
                    self::keepalive(&s, every)?;
                }
                watch(poller, s.as_fd());
                let (r, w) = s.into_split();
                Ok((Box::new(r), Box::new(w)))
            }
            Address::Unix(path) => {
                let s = tokio::net::UnixStream::connect(path).await?;
                watch(poller, s.as_fd());
                let (r, w) = s.into_split();
                Ok((Box::new(r), Box::new(w)))
            }
        }
    }
}

/// Add a new socket to `poller`. A failure (out of memory, or of the
/// user's epoll watches) costs only the busy polling, not the connection.
fn watch(poller: Option<&Poller>, socket: BorrowedFd<'_>) {
    if let Some(Err(e)) = poller.map(|p| p.add(socket)) {
        tracing::warn!("busy_poll: the socket is not watched, the mount will sleep sooner: {e}");
    }
}

/// Let the kernel find a dead peer or a partition on an idle connection:
/// TCP keepalive probes after `every` of silence, `every / 3` apart, three
/// of them; and data unacknowledged for twice `every` ends the connection
/// (TCP_USER_TIMEOUT), where the kernel would otherwise retransmit for
/// about 15 minutes. A peer that acknowledges but never answers is the
/// mount's keepalive request's to find.
pub fn keepalive(s: &tokio::net::TcpStream, every: Duration) -> std::io::Result<()> {
    let every = every.max(Duration::from_secs(1));
    let probes = socket2::TcpKeepalive::new()
        .with_time(every)
        .with_interval((every / 3).max(Duration::from_secs(1)))
        .with_retries(3);
    let sock = socket2::SockRef::from(s);
    sock.set_tcp_keepalive(&probes)?;
    sock.set_tcp_user_timeout(Some(every * 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(h: &str, p: u16) -> Address {
        Address::Tcp {
            host: h.into(),
            port: p,
        }
    }

    #[test]
    fn parses_what_users_write() {
        assert_eq!("host".parse(), Ok(tcp("host", 564)));
        assert_eq!("127.0.0.1:5640".parse(), Ok(tcp("127.0.0.1", 5640)));
        assert_eq!("[::1]:9".parse(), Ok(tcp("::1", 9)));
        assert_eq!("[::1]".parse(), Ok(tcp("::1", 564)));
        assert_eq!("::1".parse(), Ok(tcp("::1", 564)));
        assert_eq!("unix:/run/9p".parse(), Ok(Address::Unix("/run/9p".into())));
        assert!("host:x".parse::<Address>().is_err());
        assert!(":5".parse::<Address>().is_err());
        assert!("unix:".parse::<Address>().is_err());
        assert_eq!(tcp("::1", 9).to_string(), "[::1]:9");
    }

    #[tokio::test]
    async fn each_socket_dialled_is_added_to_the_poller() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (moment, budget) = (Duration::from_millis(20), Duration::from_secs(10));
        let poller = Poller::new().unwrap();
        let tcp_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = tcp_listener.local_addr().unwrap().port();
        let path = std::env::temp_dir().join(format!("ninep-poller-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let unix_listener = tokio::net::UnixListener::bind(&path).unwrap();

        // Dialled without the poller: not watched.
        let _plain = tcp("127.0.0.1", port).connect().await.unwrap();
        let (mut peer, _) = tcp_listener.accept().await.unwrap();
        peer.write_all(b"x").await.unwrap();
        assert!(!poller.look(moment, || false), "not added");

        let (mut r, _w) = tcp("127.0.0.1", port)
            .connect_with(None, Some(&poller))
            .await
            .unwrap();
        let (mut peer, _) = tcp_listener.accept().await.unwrap();
        assert!(!poller.look(moment, || false), "nothing sent yet");
        peer.write_all(b"x").await.unwrap();
        assert!(poller.look(budget, || false), "the TCP socket is watched");
        r.read_exact(&mut [0]).await.unwrap();
        assert!(!poller.pending(), "read");

        let unix = Address::Unix(path.clone());
        let (_r, _w) = unix.connect_with(None, Some(&poller)).await.unwrap();
        let (mut peer, _) = unix_listener.accept().await.unwrap();
        std::fs::remove_file(&path).unwrap();
        peer.write_all(b"x").await.unwrap();
        assert!(poller.look(budget, || false), "the Unix socket is watched");
    }
}
