//! The client library and the scripted test server, with no real server,
//! no mount and no root: the tests a plain `cargo test` runs.
//!
//! - `cancel`: dropped requests and cancel tokens, against a scripted peer.
//! - `classic`: the 9P2000.L methods on 9P2000 and 9P2000.u connections.
//! - `flush_probe`: the flush probe against each Tflush behaviour.
//! - `placed_reads`: multi-message reads straight into the caller's buffer.
//! - `scripted_peer`: a peer that breaks the protocol as real ones can.
//! - `scripted_server`: the scripted server itself, driven with raw frames.

mod cancel;
mod classic;
mod flush_probe;
mod placed_reads;
mod scripted_peer;
mod scripted_server;
