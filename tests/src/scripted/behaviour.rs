//! How the scripted server answers Tflush: one behaviour per server, each
//! modelled on a real server (or on a bug one had), so the client's flush
//! engine and `ninep-mount check` can be tested against every one of them.
//!
//! Terms: the *victim* is the request a Tflush names by `oldtag`; only a
//! read of a `/block/N` file stays in flight long enough to be a victim.
//! A *flush of a flush* names a Tflush still waiting for its answer; as Al
//! Viro described (`viro-2017-multiple-tflush.txt`), it does nothing to
//! that Tflush, and its Rflush is sent only after the one answering it,
//! in every behaviour that answers flushes.

use std::fmt;
use std::str::FromStr;

/// Default flush count after which [`FlushBehaviour::LeakAfter`] goes mute.
pub const LEAK_DEFAULT: u32 = 128;

/// The server's answer to Tflush. Parsed from and printed as the names in
/// brackets (`correct`, `hold`, ..., `leak-128` or `leak-N`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlushBehaviour {
    /// (`correct`) flush(5) and Viro's rules: Rflush at once and the
    /// victim is cancelled (it never replies). A flush of an unknown or
    /// finished tag, each further Tflush for the same victim, and a
    /// self-flush (oldtag = its own tag) get Rflush at once, in order.
    Correct,
    /// (`hold`) As diod: the victim is not cancelled; every Rflush is held
    /// until the victim completes, then the victim's reply is sent,
    /// then the Rflushes in the order the Tflushes came.
    Hold,
    /// (`last-only`) The victim is cancelled by the first Tflush; of the
    /// Tflushes for one victim only the last gets an Rflush, once none has
    /// come for the quiet period (`Config::last_only_quiet`, 50 ms).
    LastOnly,
    /// (`out-of-order`) The first Tflush of a victim is held and the
    /// victim keeps going; later ones get Rflush at once (before the first
    /// one's). When the victim completes: the first Rflush, then the
    /// victim's reply (a reply on a tag its Rflush already released).
    OutOfOrder,
    /// (`rlerror`) Rlerror(EOPNOTSUPP) to every Tflush at once; the victim
    /// keeps going and replies when released.
    Rlerror,
    /// (`never`) Tflush is never answered; the victim keeps going and
    /// replies when released.
    Never,
    /// (`no-self-flush`) As `correct`, but a self-flush (oldtag = its own
    /// tag) never gets an answer, as a server that waits for itself.
    NoSelfFlush,
    /// (`first-only`) As QEMU's 9pfs was found to do (see
    /// `viro-2017-multiple-tflush.txt`): the first Tflush of a victim
    /// cancels it and gets its Rflush at once; every later Tflush for the
    /// same victim is lost, never answered (until the tag is used again).
    FirstOnly,
    /// (`leak-N`, default `leak-128`) As `correct`, but once N Tflushes
    /// (of any kind) have come on a connection, the server answers nothing
    /// more on it (the N-th Tflush still gets its Rflush). The connection
    /// stays open: a server that leaked its request slots.
    LeakAfter(u32),
}

impl FlushBehaviour {
    /// Every behaviour, with `leak-128` for [`FlushBehaviour::LeakAfter`].
    pub const ALL: [FlushBehaviour; 9] = [
        FlushBehaviour::Correct,
        FlushBehaviour::Hold,
        FlushBehaviour::LastOnly,
        FlushBehaviour::OutOfOrder,
        FlushBehaviour::Rlerror,
        FlushBehaviour::Never,
        FlushBehaviour::NoSelfFlush,
        FlushBehaviour::FirstOnly,
        FlushBehaviour::LeakAfter(LEAK_DEFAULT),
    ];

    /// True when a Tflush cancels its victim (the victim never replies).
    pub fn cancels_victim(self) -> bool {
        matches!(
            self,
            FlushBehaviour::Correct
                | FlushBehaviour::LastOnly
                | FlushBehaviour::NoSelfFlush
                | FlushBehaviour::FirstOnly
                | FlushBehaviour::LeakAfter(_)
        )
    }
}

impl fmt::Display for FlushBehaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            FlushBehaviour::Correct => "correct",
            FlushBehaviour::Hold => "hold",
            FlushBehaviour::LastOnly => "last-only",
            FlushBehaviour::OutOfOrder => "out-of-order",
            FlushBehaviour::Rlerror => "rlerror",
            FlushBehaviour::Never => "never",
            FlushBehaviour::NoSelfFlush => "no-self-flush",
            FlushBehaviour::FirstOnly => "first-only",
            FlushBehaviour::LeakAfter(n) => return write!(f, "leak-{n}"),
        };
        f.write_str(name)
    }
}

impl FromStr for FlushBehaviour {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(n) = s.strip_prefix("leak-") {
            return match n.parse() {
                Ok(n) if n > 0 => Ok(FlushBehaviour::LeakAfter(n)),
                _ => Err(format!("{s}: leak-N needs a count N >= 1")),
            };
        }
        FlushBehaviour::ALL
            .into_iter()
            .find(|b| b.to_string() == s)
            .ok_or_else(|| {
                let names: Vec<String> = Self::ALL.iter().map(|b| b.to_string()).collect();
                format!("unknown flush behaviour {s:?}; one of {}", names.join(", "))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for b in FlushBehaviour::ALL {
            assert_eq!(b.to_string().parse::<FlushBehaviour>(), Ok(b));
        }
        assert_eq!("leak-3".parse(), Ok(FlushBehaviour::LeakAfter(3)));
        assert!("leak-0".parse::<FlushBehaviour>().is_err());
        let e = "sometimes".parse::<FlushBehaviour>().unwrap_err();
        assert!(e.contains("out-of-order"), "{e}");
    }
}
