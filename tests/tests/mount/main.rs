//! Real FUSE mounts (as root, with /dev/fuse) of diod, unpfs, aio9p, the
//! scripted server and blockfs, used through ordinary system calls and
//! tools. The harness is `mount_support`.
//!
//! The tests of every module share this process and run side by side, so
//! none may count on the kernel keeping its caches: the harness drops them
//! (`drop_caches`, system-wide) whenever a test settles. The tests that
//! count what those caches spare, or need the kernel to hold many inodes,
//! are in the `caches` binary.
//!
//! - `aio9p`: aio9p's 9P2000 and 9P2000.u example servers.
//! - `basic`: files, directories, links, attributes and tools, on diod.
//! - `blockfs`: the blocking victim file system, and diod serving it.
//! - `classic`: 9P2000 and 9P2000.u mounts of the scripted server.
//! - `early_create`: creates answered before the new file's attributes.
//! - `flushprobe`: `flushprobe=1` in each Tflush behaviour.
//! - `hostile`: a relay that rewrites diod's replies.
//! - `interrupt`: FUSE interrupts onto Tflush.
//! - `locks`: POSIX locks onto Tlock and Tgetlock.
//! - `loose_names`: what `cache=loose` answers without asking.
//! - `quarantine`: every quarantine of tags is bounded.
//! - `reconnect`: `-o reconnect` while diod is killed and restarted.
//! - `transport`: FUSE over io_uring, or `/dev/fuse`.
//! - `tree`: 2,000 files copied in, compared and taken out.
//! - `users`: `access=user` and `access=client`; the mount's life cycle.

#[path = "../mount_support/mod.rs"]
mod mount_support;

mod aio9p;
mod basic;
mod blockfs;
mod classic;
mod early_create;
mod flushprobe;
mod hostile;
mod interrupt;
mod locks;
mod loose_names;
mod quarantine;
mod read_ahead;
mod reconnect;
mod transport;
mod tree;
mod users;
