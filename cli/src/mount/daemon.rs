//! Going to the background once the mount is up, as mount(8) expects of a
//! helper: the command returns only when the mount can be used (or with
//! the reason it cannot), and the file system lives on in a daemon.
//!
//! ```text
//!   parent                          child (the daemon)
//!   fork() ───────────────────────► setsid(), chdir("/")
//!   read the pipe ...               runtime, connect, attach, mount
//!                  ◄── "ok" ─────── mount is up: stdio -> /dev/null
//!   exit 0                          serve until unmounted
//!                  ◄── "error" ──── (or) the reason it failed; exit 32
//!   print it, exit 32
//! ```
//!
//! The fork happens before the tokio runtime exists: a process with
//! threads must not fork (the child would hold only the forking thread and
//! whatever locks the others had).
//!
//! The child leads its own session, so Ctrl-C at the terminal reaches only
//! the parent: while it waits, the parent passes SIGINT, SIGTERM and
//! SIGHUP on to the child, which stops mounting and reports why (a second
//! one kills it), so that stopping the command stops the whole mount.

use std::fs::File;
use std::io::{self, PipeReader, PipeWriter, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};

/// The child the parent waits for, for [`forward`] (0: none).
static CHILD: AtomicI32 = AtomicI32::new(0);
/// Signals forwarded so far.
static FORWARDED: AtomicU32 = AtomicU32::new(0);

/// The parent's handler: pass the signal on to the child; a second one
/// kills it. Only async-signal-safe calls (atomics, kill(2)).
extern "C" fn forward(sig: libc::c_int) {
    let child = CHILD.load(Ordering::Relaxed);
    if child <= 0 {
        return;
    }
    let sig = match FORWARDED.fetch_add(1, Ordering::Relaxed) {
        0 => sig,
        _ => libc::SIGKILL,
    };
    // SAFETY: kill(2) is async-signal-safe and touches no memory of ours.
    unsafe { libc::kill(child, sig) };
}

/// Install [`forward`] for the signals that stop a mount.
fn forward_signals_to(child: libc::pid_t) {
    CHILD.store(child, Ordering::Relaxed);
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask"
        // value; we set the handler, a plain extern "C" fn that lives for
        // the whole program, and SA_RESTART so the parent's read of the
        // pipe goes on after the handler ran.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = forward as extern "C" fn(libc::c_int) as usize;
            act.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
}

/// Which side of the fork this process is.
pub enum Side {
    /// The process the user started: waits for the verdict.
    Parent(Verdict),
    /// The daemon: mounts, then reports.
    Child(Reporter),
}

/// The parent's end of the pipe.
pub struct Verdict {
    pipe: PipeReader,
    child: libc::pid_t,
}

/// The daemon's end of the pipe; dropping it without a word tells the
/// parent the daemon died.
pub struct Reporter {
    pipe: PipeWriter,
}

/// What the parent prints when the daemon dies without a word.
const DIED: &str = "the mount process ended before the mount was up";

/// Fork into a parent that waits and a child that becomes a session leader
/// (no controlling terminal: closing the terminal does not kill the mount).
///
/// Must be called while the process has a single thread.
pub fn fork() -> io::Result<Side> {
    // Both ends are close-on-exec: fusermount3, spawned by the daemon, must
    // not hold the pipe open after the daemon closed it.
    let (reader, writer) = io::pipe()?;
    // SAFETY: fork(2) has no memory-safety preconditions of its own; the
    // hazard is forking a multi-threaded process, and the caller guarantees
    // there is only this thread (no runtime has been started yet).
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            drop(reader);
            // SAFETY: setsid(2) takes no arguments and touches no memory;
            // it fails only if we already lead a process group, which a
            // fresh child never does.
            unsafe { libc::setsid() };
            Ok(Side::Child(Reporter { pipe: writer }))
        }
        child => {
            drop(writer);
            Ok(Side::Parent(Verdict {
                pipe: reader,
                child,
            }))
        }
    }
}

impl Verdict {
    /// Wait for the daemon's word: `Ok` once the mount is up, else what
    /// went wrong.
    pub fn wait(mut self) -> Result<(), String> {
        forward_signals_to(self.child);
        let mut text = String::new();
        if let Err(e) = self.pipe.read_to_string(&mut text) {
            return Err(format!("{DIED}: reading its report: {e}"));
        }
        if text == "ok" {
            return Ok(());
        }
        if !text.is_empty() {
            return Err(text);
        }
        Err(format!("{DIED} ({})", self.child_status()))
    }

    /// How the silent child ended (it has, as its end of the pipe closed).
    fn child_status(&self) -> String {
        let mut status = 0;
        // SAFETY: `status` is a valid place for waitpid(2) to write to, and
        // `self.child` is our own child, not yet reaped.
        let r = unsafe { libc::waitpid(self.child, &mut status, 0) };
        if r != self.child {
            return format!("its status is unknown: {}", io::Error::last_os_error());
        }
        if libc::WIFSIGNALED(status) {
            format!("killed by signal {}", libc::WTERMSIG(status))
        } else {
            format!("exit status {}", libc::WEXITSTATUS(status))
        }
    }
}

impl Reporter {
    /// The mount is up: tell the parent, which then exits 0.
    pub fn ok(mut self) -> io::Result<()> {
        self.pipe.write_all(b"ok")
    }

    /// The mount failed: the parent prints `message` and exits 32.
    pub fn fail(mut self, message: &str) {
        // Nothing more to do if the parent is gone.
        let _ = self.pipe.write_all(message.as_bytes());
    }
}

/// Point stdin, stdout and stderr at /dev/null: the daemon must not hold
/// the terminal (or the pipe of whoever ran it, such as mount(8)) open.
pub fn detach_stdio() -> io::Result<()> {
    let null = File::options().read(true).write(true).open("/dev/null")?;
    for fd in 0..=2 {
        // SAFETY: dup2(2) on a descriptor we own (`null`, open for the
        // whole call) onto the standard descriptors, which stay valid: they
        // now name /dev/null instead.
        if unsafe { libc::dup2(null.as_raw_fd(), fd) } == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fork a child that runs `child` and exits; the parent's verdict.
    /// The test harness has threads, so the child does nothing but
    /// async-signal-safe calls: write(2), close(2), _exit(2).
    fn verdict_of(child: impl FnOnce(Reporter)) -> Result<(), String> {
        match fork().unwrap() {
            Side::Parent(v) => v.wait(),
            Side::Child(r) => {
                child(r);
                // SAFETY: _exit(2) ends the child at once, without running
                // the test harness's destructors or atexit handlers twice.
                unsafe { libc::_exit(0) }
            }
        }
    }

    #[test]
    fn the_parent_hears_ok_error_or_silence() {
        assert_eq!(verdict_of(|r| r.ok().unwrap()), Ok(()));
        assert_eq!(
            verdict_of(|r| r.fail("no route")),
            Err("no route".to_string())
        );
        let silent = verdict_of(drop).unwrap_err();
        assert!(silent.starts_with(DIED), "{silent}");
        assert!(silent.contains("exit status 0"), "{silent}");
    }
}
