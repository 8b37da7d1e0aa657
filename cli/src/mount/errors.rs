//! How a failed mount is told: what went wrong, where, and what to try.
//! Exit codes are mount(8)'s: 1 for a usage error, 32 for a mount failure.

use std::fmt;

use ninep_client::{Address, Dialect, Error};

/// Exit status for a command line that cannot be used.
pub const EXIT_USAGE: u8 = 1;
/// Exit status for a mount that failed (or a mount that ended badly).
pub const EXIT_FAILURE: u8 = 32;

/// A failure with its exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// mount(8)'s exit status.
    pub code: u8,
    /// One line (or a few) for a person.
    pub message: String,
}

impl Failure {
    /// The command line is wrong (exit 1).
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    /// The mount failed (exit 32).
    pub fn mount(message: impl Into<String>) -> Self {
        Failure {
            code: EXIT_FAILURE,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Connecting or negotiating failed. `forced` is the dialect of
/// `-o version=`, if one was asked for.
pub fn connect_failed(addr: &Address, e: &Error, forced: Option<Dialect>) -> Failure {
    let msg = match e {
        // "cannot connect to ADDR: REASON" (the client names both).
        Error::Disconnected(m) if m.starts_with("cannot connect") => {
            format!("server unreachable: {m}")
        }
        Error::Disconnected(m) => format!(
            "the server at {addr} hung up during version negotiation ({m}); is it a 9P server?"
        ),
        Error::NotNinep(m) => format!("{addr} is not a 9P server: {m}"),
        Error::Negotiation(m) => match forced {
            Some(d) => format!(
                "dialect refused: {m}; the server does not speak {d}: \
                 leave out -o version= to let ninep-mount find one it does"
            ),
            None => format!("dialect refused: {m}"),
        },
        other => format!("cannot use the server at {addr}: {other}"),
    };
    Failure::mount(msg)
}

/// Tattach failed.
pub fn attach_failed(addr: &Address, aname: &str, uname: &str, n_uname: u32, e: &Error) -> Failure {
    // diod answers EPERM both for a tree it does not export and for a
    // user it does not let in: name both suspects, the aname first.
    let aname_hint = "check -o aname= (for diod: a directory it exports, spelled as in its -e)";
    let hint = match e.errno().map(|n| n as i32) {
        Some(libc::EPERM | libc::EACCES) => format!("{aname_hint}, then uname= and n_uname="),
        _ => aname_hint.to_string(),
    };
    Failure::mount(format!(
        "attach refused: {addr} would not attach aname {aname:?} \
         for uname {uname:?} (n_uname {n_uname}): {e}; {hint}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ninep_client::RemoteError;

    fn addr() -> Address {
        "127.0.0.1:5640".parse().unwrap()
    }

    #[test]
    fn unreachable_names_address_and_reason() {
        let e = Error::Disconnected(
            "cannot connect to 127.0.0.1:5640: Connection refused (os error 111)".into(),
        );
        let f = connect_failed(&addr(), &e, None);
        assert_eq!(f.code, EXIT_FAILURE);
        assert_eq!(
            f.message,
            "server unreachable: cannot connect to 127.0.0.1:5640: \
             Connection refused (os error 111)"
        );
        let e = Error::Disconnected("during Tversion: early eof".into());
        let f = connect_failed(&addr(), &e, None);
        assert!(f.message.contains("is it a 9P server?"), "{f}");
        let e = Error::NotNinep("it answered Tversion with \"SSH-2.0-x\"".into());
        let f = connect_failed(&addr(), &e, None);
        assert_eq!(
            f.message,
            "127.0.0.1:5640 is not a 9P server: it answered Tversion with \"SSH-2.0-x\""
        );
    }

    #[test]
    fn refused_dialect_says_which() {
        let e = Error::Negotiation("127.0.0.1:5640 accepted none of the dialects asked".into());
        let f = connect_failed(&addr(), &e, Some(Dialect::U));
        assert!(f.message.starts_with("dialect refused: "), "{f}");
        assert!(f.message.contains("does not speak 9P2000.u"), "{f}");
        assert!(f.message.contains("leave out -o version="), "{f}");
    }

    #[test]
    fn refused_attach_names_the_aname() {
        let remote = |errno| {
            Error::Remote(RemoteError {
                errno: Some(errno),
                ename: None,
            })
        };
        let f = attach_failed(&addr(), "/nope", "root", 0, &remote(2));
        assert!(f.message.starts_with("attach refused: "), "{f}");
        assert!(f.message.contains("aname \"/nope\""), "{f}");
        assert!(f.message.contains("check -o aname="), "{f}");
        let f = attach_failed(&addr(), "/srv", "bob", 1000, &remote(1));
        assert!(f.message.contains("uname \"bob\" (n_uname 1000)"), "{f}");
        assert!(f.message.ends_with("then uname= and n_uname="), "{f}");
    }
}
