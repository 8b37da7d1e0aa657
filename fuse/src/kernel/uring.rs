//! FUSE over io_uring: the kernel puts requests into buffers we lent it
//! (ring entries) instead of waiting for a read(2) of `/dev/fuse`, and a
//! reply goes back in the same entry, with the fetch of the entry's next
//! request, as one io_uring command. A request costs one system call
//! instead of two, and the kernel hands it to the queue of the CPU the
//! calling process runs on.
//!
//! How it goes (Linux 6.14 on, protocol 7.42; the kernel offers it only
//! while the `fuse` module's `enable_uring` parameter is on):
//!
//! - INIT: the kernel offers `FUSE_OVER_IO_URING`; we echo it only if an
//!   io_uring instance could be made first ([`new_uring`]). From then on
//!   the kernel holds every new request until each queue has an entry, so
//!   a mount that echoed the flag must register at once.
//! - Registration ([`Ring::register`]): one queue per possible CPU, each
//!   with [`DEPTH`] entries. An entry is two buffers: a 288-byte header
//!   (the in header, the request's first argument, the entry's
//!   bookkeeping) and a payload as large as the largest request. If the
//!   kernel refuses an entry, it falls back to `/dev/fuse` by itself.
//! - A request arrives as the completion of the entry's last command.
//!   [`Ring::run`] puts its bytes back into the layout of a `/dev/fuse`
//!   message (in header, first argument, payload), so the decoder and
//!   the handlers are the same for both transports.
//! - The reply ([`Taken::reply`]): the out header into the header buffer,
//!   the reply's arguments into the payload, then COMMIT_AND_FETCH with the
//!   request's `unique`.
//! - FORGET, INTERRUPT and the notifications still go through
//!   `/dev/fuse`, which the session keeps reading. An interrupt can then
//!   overtake the completion that brings its target: the session passes
//!   interrupts on unconditionally, and the file system holds an early
//!   one until its target's handler starts.
//! - The end: after an unmount the kernel completes every entry it holds
//!   with an error, and refuses the commits of entries still being
//!   served; the driver stops once no entry is left with the kernel.
//!
//! The ring's descriptor is watched by the runtime like any socket: the
//! completions are reaped by a task, and commits are submitted by the
//! tasks that reply. The kernel copies a request into its entry from the
//! thread that submitted the entry's last command, which is one of the
//! runtime's workers, woken for it if it sleeps.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use io_uring::{cqueue, opcode, squeue, types, IoUring};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tracing::{debug, warn};
use zerocopy::{FromBytes, FromZeros, IntoBytes};

use super::abi;
use super::dev::Device;
use super::reply::Reply;

/// An io_uring with 128-byte submission entries: a FUSE command's 80
/// bytes do not fit in a plain one.
pub(crate) type Uring = IoUring<squeue::Entry128, cqueue::Entry>;

/// Ring entries per queue: as many requests of one CPU's processes as are
/// served at once (more wait in the kernel, not yet sent, so not
/// interruptible but by a fatal signal). Each holds a payload buffer of
/// the largest request; its pages are allocated as replies first fill
/// them.
pub(crate) const DEPTH: usize = 16;

const IN_HEADER: usize = size_of::<abi::fuse_in_header>();
const OUT_HEADER: usize = size_of::<abi::fuse_out_header>();

/// An io_uring instance for `queues` queues of [`DEPTH`] entries, made
/// before INIT is answered: a kernel told "io_uring" waits for the
/// entries, so the flag is echoed only once the ring exists.
pub(crate) fn new_uring(queues: u16) -> io::Result<Uring> {
    let entries = (usize::from(queues) * DEPTH).next_power_of_two();
    let entries = u32::try_from(entries).map_err(|_| io::ErrorKind::InvalidInput)?;
    // Every entry has at most one command in flight, so the completion
    // queue (twice this) never overflows.
    IoUring::builder().build(entries)
}

/// The queues the kernel keeps: one per possible CPU. It accepts entries
/// only for queues below that number and waits until each has one.
pub(crate) fn queues() -> io::Result<u16> {
    let list = std::fs::read_to_string("/sys/devices/system/cpu/possible")?;
    count_cpus(list.trim())
        .and_then(|n| u16::try_from(n).ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("cannot read the possible CPUs {list:?}"),
            )
        })
}

/// CPUs in a kernel CPU list (`0-3,8,10-11`).
fn count_cpus(list: &str) -> Option<usize> {
    list.split(',').try_fold(0usize, |n, part| {
        let part = part.trim();
        let add = match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.parse::<usize>().ok()?, b.parse::<usize>().ok()?);
                b.checked_sub(a)? + 1
            }
            None => {
                part.parse::<usize>().ok()?;
                1
            }
        };
        n.checked_add(add)
    })
}

/// One ring entry's buffers, lent to the kernel.
#[derive(Debug)]
struct Slot {
    qid: u16,
    header: NonNull<abi::fuse_uring_req_header>,
    payload: NonNull<u8>,
    payload_len: usize,
    /// The two buffers as REGISTER's iovec array.
    iov: Box<[libc::iovec; 2]>,
}

impl Slot {
    fn new(qid: u16, payload_len: usize) -> Slot {
        let header = Box::new(abi::fuse_uring_req_header::new_zeroed());
        // Zeroed by the allocator: pages are mapped as they are written.
        let payload = vec![0u8; payload_len].into_boxed_slice();
        let header = NonNull::from(Box::leak(header));
        let payload = NonNull::from(Box::leak(payload)).cast::<u8>();
        let iov = Box::new([
            libc::iovec {
                iov_base: header.as_ptr().cast(),
                iov_len: size_of::<abi::fuse_uring_req_header>(),
            },
            libc::iovec {
                iov_base: payload.as_ptr().cast(),
                iov_len: payload_len,
            },
        ]);
        Slot {
            qid,
            header,
            payload,
            payload_len,
            iov,
        }
    }

    /// Give the buffers back to the allocator.
    ///
    /// # Safety
    /// The kernel must be done with them (no command of this entry in
    /// flight, none to come), and this is called once.
    unsafe fn free(&self) {
        // SAFETY: both were leaked boxes of these sizes (`new`); the
        // caller vouches that nobody uses them any more.
        unsafe {
            drop(Box::from_raw(self.header.as_ptr()));
            drop(Box::from_raw(std::ptr::slice_from_raw_parts_mut(
                self.payload.as_ptr(),
                self.payload_len,
            )));
        }
    }
}

/// The ring, its entries, and the device they serve.
pub(crate) struct Ring {
    uring: Mutex<Uring>,
    ring_fd: RawFd,
    dev: Arc<Device>,
    slots: Box<[Slot]>,
    /// Entries the kernel may still use: registered, and not yet
    /// completed with an error.
    live: AtomicUsize,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("ring_fd", &self.ring_fd)
            .field("entries", &self.slots.len())
            .field("live", &self.live)
            .finish_non_exhaustive()
    }
}

// SAFETY: the slots' pointers are to buffers owned by the ring; who may
// touch an entry's buffers is decided by the protocol (the kernel between
// a command and its completion, the one `Taken` of the entry after it),
// not by the thread.
unsafe impl Send for Ring {}
// SAFETY: as for Send: shared access never touches a slot's buffers
// outside the one `Taken` that owns the entry.
unsafe impl Sync for Ring {}

/// The ring's descriptor, for the runtime to watch.
struct RingFd(RawFd);

impl AsRawFd for RingFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

impl Ring {
    /// Lend the kernel [`DEPTH`] entries on each of `queues` queues of
    /// `payload` bytes each, for the mount on `dev` (whose INIT reply said
    /// io_uring). Fails only if nothing could be submitted; an entry the
    /// kernel refuses comes back as a completion with an error.
    pub(crate) fn register(
        uring: Uring,
        dev: Arc<Device>,
        queues: u16,
        payload: usize,
    ) -> io::Result<Arc<Ring>> {
        let slots: Box<[Slot]> = (0..queues)
            .flat_map(|qid| (0..DEPTH).map(move |_| qid))
            .map(|qid| Slot::new(qid, payload))
            .collect();
        let ring = Arc::new(Ring {
            ring_fd: uring.as_raw_fd(),
            uring: Mutex::new(uring),
            dev,
            slots,
            live: AtomicUsize::new(0),
        });
        {
            let mut uring = ring.lock();
            for (idx, slot) in ring.slots.iter().enumerate() {
                let sqe = ring.command(abi::FUSE_IO_URING_CMD_REGISTER, slot.qid, 0);
                let sqe = opcode_addr(sqe, slot.iov.as_ptr() as u64, 2).user_data(idx as u64);
                push(&mut uring, &sqe)?;
                ring.live.fetch_add(1, Ordering::Relaxed);
            }
            uring.submit()?;
        }
        debug!(
            queues,
            depth = DEPTH,
            payload,
            "FUSE over io_uring: entries registered"
        );
        Ok(ring)
    }

    fn lock(&self) -> MutexGuard<'_, Uring> {
        self.uring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A FUSE command for the device (`addr` and `len` unset).
    fn command(&self, cmd_op: u32, qid: u16, commit_id: u64) -> squeue::Entry128 {
        let req = abi::fuse_uring_cmd_req {
            flags: 0,
            commit_id,
            qid,
            padding: [0; 6],
        };
        let mut cmd = [0u8; 80];
        cmd[..size_of::<abi::fuse_uring_cmd_req>()].copy_from_slice(req.as_bytes());
        opcode::UringCmd80::new(types::Fd(self.dev.as_raw_fd()), cmd_op)
            .cmd(cmd)
            .build()
    }

    /// Serve the entries' requests until no entry is left with the
    /// kernel: each request is handed to `on_request` in the layout of a
    /// `/dev/fuse` message, with the entry to answer it in.
    pub(crate) async fn run(
        self: Arc<Self>,
        mut on_request: impl FnMut(Vec<u8>, Taken),
    ) -> io::Result<()> {
        // SAFETY: the descriptor is the ring's, open while `self` lives,
        // which outlives `watched` (dropped at the end of this call).
        let watched =
            unsafe { AsyncFd::register_with_interest(RingFd(self.ring_fd), Interest::READABLE) }?;
        let mut done: Vec<(usize, i32)> = Vec::new();
        while self.live.load(Ordering::Acquire) > 0 {
            let mut ready = watched.readable().await?;
            self.reap(&mut done);
            if done.is_empty() {
                ready.clear_ready();
                continue;
            }
            for (idx, res) in done.drain(..) {
                if res < 0 {
                    self.lost(idx, res);
                    continue;
                }
                // SAFETY: the completion gave the entry back to us, and
                // no `Taken` of it exists until this one.
                let (msg, unique) = match unsafe { self.request(idx) } {
                    Ok(got) => got,
                    Err(unique) => {
                        warn!("a request in an io_uring entry we cannot read");
                        self.commit(idx, unique, &Reply::error(unique, libc::EIO));
                        continue;
                    }
                };
                let ring = self.clone();
                on_request(
                    msg,
                    Taken {
                        ring,
                        idx,
                        unique,
                        answered: false,
                    },
                );
            }
        }
        debug!("FUSE over io_uring: every entry is back, the ring ends");
        Ok(())
    }

    /// Move the completions out of the ring: (entry, result).
    fn reap(&self, into: &mut Vec<(usize, i32)>) {
        let mut uring = self.lock();
        into.extend(
            uring
                .completion()
                .map(|c| (c.user_data() as usize, c.result())),
        );
    }

    /// An entry the kernel will not use again (the mount is gone, or it
    /// refused the entry or its commit).
    fn lost(&self, idx: usize, res: i32) {
        let err = io::Error::from_raw_os_error(-res);
        match -res {
            libc::ENOTCONN | libc::ECONNABORTED | libc::ECANCELED => {
                debug!(idx, "an io_uring entry ends: {err}")
            }
            _ => warn!(idx, "the kernel refused an io_uring entry: {err}"),
        }
        self.live.fetch_sub(1, Ordering::AcqRel);
    }

    /// The request in entry `idx`, as a `/dev/fuse` message, and its
    /// `unique`. `Err(unique)` if its sizes do not add up.
    ///
    /// # Safety
    /// The entry must be ours (completed, not yet committed).
    unsafe fn request(&self, idx: usize) -> Result<(Vec<u8>, u64), u64> {
        let slot = &self.slots[idx];
        // SAFETY: the caller vouches the kernel does not write the entry
        // now; the header buffer is a live, aligned header.
        let header = unsafe { slot.header.as_ref() };
        let (h, _) = abi::fuse_in_header::read_from_prefix(&header.in_out[..]).map_err(|_| 0u64)?;
        let payload_sz = header.ring_ent_in_out.payload_sz as usize;
        // The in header's `len` counts the first argument (in the header
        // buffer) and the payload.
        let first = (h.len as usize)
            .checked_sub(IN_HEADER + payload_sz)
            .filter(|&n| n <= abi::FUSE_URING_OP_IN_OUT_SZ && payload_sz <= slot.payload_len)
            .ok_or(h.unique)?;
        // SAFETY: `payload_sz` is within the buffer (checked above), which
        // the kernel is not writing now (the caller's promise).
        let payload = unsafe { std::slice::from_raw_parts(slot.payload.as_ptr(), payload_sz) };
        let mut msg = Vec::with_capacity(h.len as usize);
        msg.extend_from_slice(&header.in_out[..IN_HEADER]);
        msg.extend_from_slice(&header.op_in[..first]);
        msg.extend_from_slice(payload);
        Ok((msg, h.unique))
    }

    /// Write `reply` into entry `idx` and give the entry back to the
    /// kernel with the request's `unique` (which fetches its next one).
    fn commit(&self, idx: usize, unique: u64, reply: &Reply) {
        let slot = &self.slots[idx];
        let fits;
        let too_big = Reply::error(unique, libc::EIO);
        let (head, data) = {
            let (head, data) = reply.parts();
            fits = head.len() - OUT_HEADER + data.len() <= slot.payload_len;
            if fits {
                (head, data)
            } else {
                warn!(
                    unique,
                    bytes = head.len() + data.len(),
                    "a reply larger than the io_uring entry: EIO instead"
                );
                too_big.parts()
            }
        };
        let args = head.len() - OUT_HEADER;
        // SAFETY: entry `idx` is ours until the commit below is submitted
        // (our caller holds its `Taken`, or the completion just gave it);
        // the copies stay within the buffers (`fits`).
        unsafe {
            let header = &mut *slot.header.as_ptr();
            header.in_out[..OUT_HEADER].copy_from_slice(&head[..OUT_HEADER]);
            header.ring_ent_in_out.payload_sz = (args + data.len()) as u32;
            let payload = std::slice::from_raw_parts_mut(slot.payload.as_ptr(), slot.payload_len);
            payload[..args].copy_from_slice(&head[OUT_HEADER..]);
            payload[args..args + data.len()].copy_from_slice(data);
        }
        let sqe = self
            .command(abi::FUSE_IO_URING_CMD_COMMIT_AND_FETCH, slot.qid, unique)
            .user_data(idx as u64);
        let mut uring = self.lock();
        if let Err(e) = push(&mut uring, &sqe).and_then(|()| uring.submit().map(drop)) {
            warn!(idx, "committing a reply through io_uring: {e}");
            drop(uring);
            self.live.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        if self.live.load(Ordering::Acquire) > 0 {
            // The kernel may still hold an entry: its buffers stay.
            debug!("an io_uring ring dropped with entries out: their buffers are kept");
            return;
        }
        for slot in self.slots.iter() {
            // SAFETY: every entry came back with an error, so the kernel
            // has none; `drop` runs once.
            unsafe { slot.free() };
        }
    }
}

/// An entry whose request is being served: the one way to answer it.
/// Dropped unanswered (a handler that panicked), it answers EIO, so the
/// entry goes back to the kernel either way.
#[derive(Debug)]
pub(crate) struct Taken {
    ring: Arc<Ring>,
    idx: usize,
    unique: u64,
    answered: bool,
}

impl Taken {
    /// Send `reply` (its `unique` must be the request's).
    pub(crate) fn reply(mut self, reply: &Reply) {
        self.answered = true;
        self.ring.commit(self.idx, self.unique, reply);
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        if !self.answered {
            let eio = Reply::error(self.unique, libc::EIO);
            self.ring.commit(self.idx, self.unique, &eio);
        }
    }
}

/// Queue `sqe`, submitting what is queued first if the queue is full.
fn push(uring: &mut Uring, sqe: &squeue::Entry128) -> io::Result<()> {
    loop {
        // SAFETY: what the entry points at (an iovec array and the
        // buffers it names) belongs to the ring's slots, which outlive
        // every command (`Ring`'s drop keeps them while any is out).
        if unsafe { uring.submission().push(sqe) }.is_ok() {
            return Ok(());
        }
        uring.submit()?;
    }
}

/// `sqe` with its `addr` and `len` set: REGISTER's iovec array. (The
/// io-uring crate's command builder has no `len`.)
fn opcode_addr(sqe: squeue::Entry128, addr: u64, len: u32) -> squeue::Entry128 {
    // An SQE in the kernel's layout (`struct io_uring_sqe`): `addr` at
    // byte 16, `len` at byte 24; Entry128 is that SQE (repr(C)) and the
    // 64 bytes of command that follow it.
    // SAFETY: Entry128 is 128 bytes of plain integers and byte arrays
    // (no padding, no pointers the compiler tracks), so any bytes are one.
    let mut raw: [u8; 128] = unsafe { std::mem::transmute(sqe) };
    raw[16..24].copy_from_slice(&addr.to_ne_bytes());
    raw[24..28].copy_from_slice(&len.to_ne_bytes());
    // SAFETY: as above, any 128 bytes are a valid Entry128.
    unsafe { std::mem::transmute(raw) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_count_every_cpu() {
        assert_eq!(count_cpus("0"), Some(1));
        assert_eq!(count_cpus("0-1"), Some(2));
        assert_eq!(count_cpus("0-3,8,10-11"), Some(7));
        assert_eq!(count_cpus("3-1"), None);
        assert_eq!(count_cpus("a"), None);
        assert_eq!(count_cpus(""), None);
    }

    #[test]
    fn this_machine_has_a_queue_per_possible_cpu() {
        let q = queues().expect("possible CPUs");
        assert!(q >= 1);
    }

    #[test]
    fn a_register_command_carries_its_iovec_array_where_the_kernel_reads_it() {
        let sqe = opcode::UringCmd80::new(types::Fd(7), abi::FUSE_IO_URING_CMD_REGISTER).build();
        let sqe = opcode_addr(sqe, 0x1122_3344_5566_7788, 2).user_data(9);
        // SAFETY: as in `opcode_addr`.
        let raw: [u8; 128] = unsafe { std::mem::transmute(sqe) };
        assert_eq!(raw[0], io_uring::opcode::UringCmd80::CODE);
        assert_eq!(i32::from_ne_bytes(raw[4..8].try_into().unwrap()), 7, "fd");
        assert_eq!(
            u32::from_ne_bytes(raw[8..12].try_into().unwrap()),
            abi::FUSE_IO_URING_CMD_REGISTER,
            "cmd_op"
        );
        assert_eq!(
            u64::from_ne_bytes(raw[16..24].try_into().unwrap()),
            0x1122_3344_5566_7788,
            "addr"
        );
        assert_eq!(
            u32::from_ne_bytes(raw[24..28].try_into().unwrap()),
            2,
            "len"
        );
        assert_eq!(
            u64::from_ne_bytes(raw[32..40].try_into().unwrap()),
            9,
            "user_data"
        );
    }
}
