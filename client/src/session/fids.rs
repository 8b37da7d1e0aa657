//! What a request does to fids, decided when it is sent and applied when
//! its fate is known: answered, answered with an error, or flushed.

use crate::ids::Fid;
use crate::wire::{Rmessage, Tmessage};

/// A request's effect on fids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FidEffect {
    None,
    /// Tattach, Tauth, Txattrwalk: `fid` is bound on success, free on error.
    Binds(Fid),
    /// Twalk: `newfid` is bound only if every one of `names` was walked.
    Walk {
        newfid: Fid,
        names: usize,
    },
    /// Tclunk, Tremove: `fid` is free again once any reply comes.
    Frees(Fid),
}

/// What settling an effect leaves for the driver to do.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Settled {
    /// A fid the reply bound: the waiter's, or to clunk if nobody waits.
    pub bound: Option<Fid>,
    /// A fid the server still holds that nobody owns: clunk it now.
    pub clunk: Option<Fid>,
    /// A fid the server no longer knows: back to the allocator.
    pub free: Option<Fid>,
}

impl FidEffect {
    pub(super) fn of(msg: &Tmessage) -> Self {
        match msg {
            Tmessage::Tattach(m) => FidEffect::Binds(m.fid),
            Tmessage::Tauth(m) => FidEffect::Binds(m.afid),
            Tmessage::Txattrwalk(m) => FidEffect::Binds(m.newfid),
            Tmessage::Twalk(m) if m.newfid != m.fid => FidEffect::Walk {
                newfid: m.newfid,
                names: m.wname.len(),
            },
            Tmessage::Tclunk(m) => FidEffect::Frees(m.fid),
            Tmessage::Tremove(m) => FidEffect::Frees(m.fid),
            // Every other request, named one by one: a message added later
            // must be placed here, or a fid it binds would leak.
            Tmessage::Twalk(_)
            | Tmessage::Tstatfs(_)
            | Tmessage::Tlopen(_)
            | Tmessage::Tlcreate(_)
            | Tmessage::Tsymlink(_)
            | Tmessage::Tmknod(_)
            | Tmessage::Trename(_)
            | Tmessage::Treadlink(_)
            | Tmessage::Tgetattr(_)
            | Tmessage::Tsetattr(_)
            | Tmessage::Txattrcreate(_)
            | Tmessage::Treaddir(_)
            | Tmessage::Tfsync(_)
            | Tmessage::Tlock(_)
            | Tmessage::Tgetlock(_)
            | Tmessage::Tlink(_)
            | Tmessage::Tmkdir(_)
            | Tmessage::Trenameat(_)
            | Tmessage::Tunlinkat(_)
            | Tmessage::Tversion(_)
            | Tmessage::Tflush(_)
            | Tmessage::Topen(_)
            | Tmessage::Tcreate(_)
            | Tmessage::Tread(_)
            | Tmessage::Twrite(_)
            | Tmessage::Tstat(_)
            | Tmessage::Twstat(_) => FidEffect::None,
        }
    }

    /// The request was answered with `reply` (an error reply included).
    pub(super) fn answered(self, reply: &Rmessage) -> Settled {
        let ok = !reply.is_error();
        match self {
            FidEffect::None => Settled::default(),
            FidEffect::Frees(fid) => Settled {
                free: Some(fid),
                ..Settled::default()
            },
            FidEffect::Binds(fid) if ok => Settled {
                bound: Some(fid),
                ..Settled::default()
            },
            FidEffect::Walk { newfid, names } => match reply {
                Rmessage::Rwalk(w) if w.wqid.len() == names => Settled {
                    bound: Some(newfid),
                    ..Settled::default()
                },
                // More qids than names: the server may or may not have bound
                // newfid, and the request fails; clunking it is harmless.
                Rmessage::Rwalk(w) if w.wqid.len() > names => Settled {
                    clunk: Some(newfid),
                    ..Settled::default()
                },
                _ => Settled {
                    free: Some(newfid),
                    ..Settled::default()
                },
            },
            FidEffect::Binds(fid) => Settled {
                free: Some(fid),
                ..Settled::default()
            },
        }
    }

    /// The request never took effect: flushed before it was answered (DESIGN
    /// rule 4: treated as never sent). A fid it would have bound is free; a
    /// fid it would have clunked is still bound, so it is clunked again.
    pub(super) fn not_done(self) -> Settled {
        match self {
            FidEffect::None => Settled::default(),
            FidEffect::Binds(fid) | FidEffect::Walk { newfid: fid, .. } => Settled {
                free: Some(fid),
                ..Settled::default()
            },
            FidEffect::Frees(fid) => Settled {
                clunk: Some(fid),
                ..Settled::default()
            },
        }
    }

    /// The answer could not be read (malformed, or of the wrong type): the
    /// server may or may not hold the fid, so clunk it either way; an
    /// error reply to that clunk is harmless and frees the number.
    pub(super) fn unknown(self) -> Settled {
        match self {
            FidEffect::None => Settled::default(),
            FidEffect::Binds(fid) | FidEffect::Walk { newfid: fid, .. } | FidEffect::Frees(fid) => {
                Settled {
                    clunk: Some(fid),
                    ..Settled::default()
                }
            }
        }
    }
}
