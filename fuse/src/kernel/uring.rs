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
//!   It is put back into the layout of a `/dev/fuse` message (in header,
//!   first argument, payload), so the decoder and the handlers are the
//!   same for both transports.
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
//!   served; the thread stops once no entry is left with the kernel.
//!
//! One thread of its own drives the ring ([`start`]), because the kernel
//! copies a request into its entry from the thread that submitted the
//! entry's last command, and wakes that one thread for it. It submits the
//! commits, waits for completions (looking at the completion queue for a
//! moment first, as `busy_poll` does for the runtime, but only after a
//! round it answered from memory), and starts each request's handler
//! right there: one that is answered from memory replies before the
//! thread waits again, so its commit goes out with that wait, one system
//! call per request and no other thread woken. A handler that has to wait
//! (for the server) goes on as a task of the runtime, which commits its
//! reply through a second ring at once; that ring's completions (the
//! entry's next request) signal an eventfd the thread reads through its
//! own ring.
//!
//! The hand-over to the runtime is why this is not the default: measured
//! on a 2-core virtual machine, a request that goes to the server took up
//! to 1.8 times its `/dev/fuse` time (docs/performance.md).

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Waker};
use std::time::{Duration, Instant};

use io_uring::{cqueue, opcode, squeue, types, IoUring};
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
    // queue (twice this) never overflows. One thread submits everything
    // (enabled from it, see `start`), and runs the kernel's work for its
    // completions itself, when it asks for them: no interrupt of a
    // thread that is busy, and the `taskrun` flag says when there is some.
    IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_taskrun_flag()
        .setup_r_disabled()
        .build(entries)
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

/// What the ring's thread and the tasks that reply share: the entries,
/// and the commits waiting for the thread to submit them.
pub(crate) struct Shared {
    dev: Arc<Device>,
    slots: Box<[Slot]>,
    /// Entries the kernel may still use: registered, and not yet
    /// completed with an error.
    live: AtomicUsize,
    /// Replies written into their entries, to be committed: (entry,
    /// unique).
    commits: Mutex<Vec<(usize, u64)>>,
    /// Wakes the ring's thread (an eventfd it reads through the ring)
    /// for each completion of `side`.
    wake: OwnedFd,
    /// A second ring, for the commits of replies made on other threads
    /// (a handler that waited for the server, answered by the runtime):
    /// they are submitted there at once by the thread that replies,
    /// instead of being handed to the ring's thread. The entry's next
    /// request then completes on this ring, whose completions the ring's
    /// thread reaps too (woken by `wake`).
    side: Mutex<Uring>,
    /// Set while `commits` has some (the thread looks at this while it
    /// spins).
    has_commits: AtomicBool,
    /// Replies made on the thread itself, so far.
    answered_here: AtomicUsize,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("entries", &self.slots.len())
            .field("live", &self.live)
            .finish_non_exhaustive()
    }
}

// SAFETY: the slots' pointers are to buffers owned here; who may touch an
// entry's buffers is decided by the protocol (the kernel between a
// command and its completion, the one `Taken` of the entry after it), not
// by the thread.
unsafe impl Send for Shared {}
// SAFETY: as for Send: shared access never touches a slot's buffers
// outside the one `Taken` that owns the entry.
unsafe impl Sync for Shared {}

thread_local! {
    /// Set on a ring's own thread: its replies need no wakeup.
    static ON_RING_THREAD: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// `user_data` of the eventfd read that wakes the thread.
const WAKE: u64 = u64::MAX;

/// Lend the kernel [`DEPTH`] entries on each of `queues` queues of
/// `payload` bytes each, for the mount on `dev` (whose INIT reply said
/// io_uring), and serve them from a thread of their own: each request is
/// handed to `on_request` there, in the layout of a `/dev/fuse` message,
/// with the entry to answer it in. `on_request` runs on that thread with
/// the runtime `rt` entered; it should start the request's work and
/// return (see [`run_here_or_spawn`]). The thread looks for its next
/// request for up to `spin` before it sleeps in the kernel (`busy_poll`;
/// zero: it sleeps at once).
///
/// Fails only if nothing could be submitted; an entry the kernel refuses
/// comes back as a completion with an error.
pub(crate) fn start(
    uring: Uring,
    dev: Arc<Device>,
    queues: u16,
    payload: usize,
    spin: Duration,
    rt: tokio::runtime::Handle,
    on_request: impl FnMut(Vec<u8>, Taken) + Send + 'static,
) -> io::Result<()> {
    let slots: Box<[Slot]> = (0..queues)
        .flat_map(|qid| (0..DEPTH).map(move |_| qid))
        .map(|qid| Slot::new(qid, payload))
        .collect();
    let wake = eventfd()?;
    let side: Uring = IoUring::builder().build(uring.params().sq_entries())?;
    side.submitter().register_eventfd(wake.as_raw_fd())?;
    let shared = Arc::new(Shared {
        dev,
        slots,
        live: AtomicUsize::new(0),
        commits: Mutex::new(Vec::new()),
        wake,
        side: Mutex::new(side),
        has_commits: AtomicBool::new(false),
        answered_here: AtomicUsize::new(0),
    });
    let mut thread = RingThread {
        uring,
        shared: shared.clone(),
        woken: Box::new([0; 8]),
        spin,
        queued: 0,
        from_memory: true,
    };
    let (started, result) = std::sync::mpsc::sync_channel(1);
    std::thread::Builder::new()
        .name("fuse-uring".into())
        .spawn(move || {
            let _rt = rt.enter();
            ON_RING_THREAD.with(|on| on.set(true));
            let registered = thread.register();
            let failed = registered.is_err();
            let _ = started.send(registered);
            if failed {
                return;
            }
            if let Err(e) = thread.run(on_request) {
                warn!("FUSE over io_uring stopped: {e}");
            }
        })?;
    result
        .recv()
        .map_err(|_| io::Error::other("the io_uring thread ended at once"))??;
    debug!(
        queues,
        depth = DEPTH,
        payload,
        "FUSE over io_uring: entries registered"
    );
    Ok(())
}

/// Poll `fut` once here; if it is not done, hand it to the runtime.
/// A request answered from memory is then answered on the ring's thread,
/// without waking another.
pub(crate) fn run_here_or_spawn(fut: impl Future<Output = ()> + Send + 'static) {
    let mut fut = Box::pin(fut);
    let mut cx = Context::from_waker(Waker::noop());
    if fut.as_mut().poll(&mut cx).is_pending() {
        // Polled again by its task, with its task's waker: every future
        // keeps the waker of its latest poll.
        tokio::spawn(fut);
    }
}

/// The ring's thread: the only one that touches the ring's queues.
struct RingThread {
    uring: Uring,
    shared: Arc<Shared>,
    /// Where the eventfd read lands.
    woken: Box<[u8; 8]>,
    /// How long to look for a completion before sleeping.
    spin: Duration,
    /// Entries queued since the last submission.
    queued: usize,
    /// Whether every request of the last round was answered on this
    /// thread before the next wait (from memory): only then is the next
    /// one looked for before sleeping. A request that waits for the
    /// server is answered by the runtime, and a thread spinning meanwhile
    /// would take the core the runtime and the server need.
    from_memory: bool,
}

impl RingThread {
    /// Make this thread the ring's one submitter, queue every entry's
    /// REGISTER and the wakeup read, and submit them.
    fn register(&mut self) -> io::Result<()> {
        self.uring.submitter().register_enable_rings()?;
        let shared = self.shared.clone();
        for (idx, slot) in shared.slots.iter().enumerate() {
            let sqe = shared.command(abi::FUSE_IO_URING_CMD_REGISTER, slot.qid, 0);
            let sqe = with_addr_len(sqe, slot.iov.as_ptr() as u64, 2).user_data(idx as u64);
            self.push(&sqe)?;
            shared.live.fetch_add(1, Ordering::Relaxed);
        }
        self.arm_wake()?;
        self.uring.submit()?;
        Ok(())
    }

    /// Read the eventfd through the ring: its completion wakes us.
    fn arm_wake(&mut self) -> io::Result<()> {
        let fd = types::Fd(self.shared.wake.as_raw_fd());
        let sqe = opcode::Read::new(fd, self.woken.as_mut_ptr(), 8)
            .build()
            .user_data(WAKE);
        self.push(&sqe.into())
    }

    fn push(&mut self, sqe: &squeue::Entry128) -> io::Result<()> {
        // SAFETY: what the entry points at (an iovec array and the buffers
        // it names, or `woken`) belongs to the slots or to this thread,
        // which outlive every command (`Shared`'s drop keeps the slots
        // while any is out; the thread ends only when none is).
        if unsafe { queue(&mut self.uring, sqe) }? {
            self.queued = 0;
        }
        self.queued += 1;
        Ok(())
    }

    /// Serve until no entry is left with the kernel.
    fn run(&mut self, mut on_request: impl FnMut(Vec<u8>, Taken)) -> io::Result<()> {
        let mut done: Vec<(u64, i32)> = Vec::new();
        while self.shared.live.load(Ordering::Acquire) > 0 {
            self.queue_commits()?;
            self.wait()?;
            done.extend(self.uring.completion().map(|c| (c.user_data(), c.result())));
            {
                let mut side = self.shared.lock_side();
                done.extend(side.completion().map(|c| (c.user_data(), c.result())));
            }
            let (mut requests, here) = (0, self.shared.answered_here.load(Ordering::Relaxed));
            for (data, res) in done.drain(..) {
                if data == WAKE {
                    self.arm_wake()?;
                    continue;
                }
                let idx = data as usize;
                if res < 0 {
                    self.shared.lost(idx, res);
                    continue;
                }
                // SAFETY: the completion gave the entry back to us, and
                // no `Taken` of it exists until this one.
                match unsafe { self.shared.request(idx) } {
                    Ok((msg, unique)) => {
                        let entry = Taken {
                            shared: self.shared.clone(),
                            idx,
                            unique,
                            answered: false,
                        };
                        requests += 1;
                        on_request(msg, entry);
                    }
                    Err(unique) => {
                        warn!("a request in an io_uring entry we cannot read");
                        self.shared
                            .answer(idx, unique, &Reply::error(unique, libc::EIO));
                    }
                }
            }
            if requests > 0 {
                let now = self.shared.answered_here.load(Ordering::Relaxed);
                self.from_memory = now - here == requests;
            }
        }
        debug!("FUSE over io_uring: every entry is back, the ring ends");
        Ok(())
    }

    /// Submit what is queued and wait for a completion: first by looking
    /// for one for up to the spin budget (running the kernel's work for
    /// those it has, which is what brings a request into its entry), then
    /// asleep in the kernel.
    fn wait(&mut self) -> io::Result<()> {
        if self.spin.is_zero() || !self.from_memory {
            return self.sleep();
        }
        if self.queued > 0 {
            self.submit_and_wait(0)?;
        }
        let start = Instant::now();
        loop {
            if !self.uring.completion().is_empty()
                || self.shared.has_commits.load(Ordering::Acquire)
                || self.shared.side_has_completions()
            {
                return Ok(());
            }
            if self.uring.submission().taskrun() {
                self.submit_and_wait(0)?;
                continue;
            }
            if start.elapsed() >= self.spin {
                return self.sleep();
            }
            std::hint::spin_loop();
        }
    }

    /// Submit what is queued and sleep until a completion (of either
    /// ring: the side ring's signal the eventfd this one reads).
    fn sleep(&mut self) -> io::Result<()> {
        if self.shared.has_commits.load(Ordering::Acquire) || self.shared.side_has_completions() {
            return self.submit_and_wait(0);
        }
        self.submit_and_wait(1)
    }

    /// Submit what is queued; wait for `want` completions (with zero, the
    /// kernel still runs its pending work when the taskrun flag says so).
    fn submit_and_wait(&mut self, want: usize) -> io::Result<()> {
        loop {
            match self.uring.submit_and_wait(want) {
                Ok(_) => {
                    self.queued = 0;
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // A full completion queue, or the kernel's own shortage:
                // what is done is reaped first, then this is asked again.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Queue a COMMIT_AND_FETCH for every reply written since.
    fn queue_commits(&mut self) -> io::Result<()> {
        let commits = {
            let mut queued = self.shared.lock_commits();
            self.shared.has_commits.store(false, Ordering::Release);
            std::mem::take(&mut *queued)
        };
        for (idx, unique) in commits {
            let qid = self.shared.slots[idx].qid;
            let sqe = self
                .shared
                .command(abi::FUSE_IO_URING_CMD_COMMIT_AND_FETCH, qid, unique)
                .user_data(idx as u64);
            self.push(&sqe)?;
        }
        Ok(())
    }
}

impl Shared {
    fn lock_commits(&self) -> MutexGuard<'_, Vec<(usize, u64)>> {
        self.commits.lock().unwrap_or_else(|e| e.into_inner())
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

    /// Write `reply` into entry `idx` and queue its commit with the
    /// request's `unique` (which also fetches the entry's next request).
    fn answer(&self, idx: usize, unique: u64, reply: &Reply) {
        let slot = &self.slots[idx];
        let too_big = Reply::error(unique, libc::EIO);
        let (head, data) = match reply.parts() {
            (head, data) if head.len() - OUT_HEADER + data.len() <= slot.payload_len => {
                (head, data)
            }
            (head, data) => {
                warn!(
                    unique,
                    bytes = head.len() + data.len(),
                    "a reply larger than the io_uring entry: EIO instead"
                );
                too_big.parts()
            }
        };
        let args = head.len() - OUT_HEADER;
        // SAFETY: entry `idx` is ours until its commit is submitted (our
        // caller holds its `Taken`, or the completion just gave it); the
        // copies stay within the buffers (checked above).
        unsafe {
            let header = &mut *slot.header.as_ptr();
            header.in_out[..OUT_HEADER].copy_from_slice(&head[..OUT_HEADER]);
            header.ring_ent_in_out.payload_sz = (args + data.len()) as u32;
            let payload = std::slice::from_raw_parts_mut(slot.payload.as_ptr(), slot.payload_len);
            payload[..args].copy_from_slice(&head[OUT_HEADER..]);
            payload[args..args + data.len()].copy_from_slice(data);
        }
        if ON_RING_THREAD.with(|on| on.get()) {
            self.lock_commits().push((idx, unique));
            self.has_commits.store(true, Ordering::SeqCst);
            self.answered_here.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let sqe = self
            .command(abi::FUSE_IO_URING_CMD_COMMIT_AND_FETCH, slot.qid, unique)
            .user_data(idx as u64);
        let mut side = self.lock_side();
        // SAFETY: the entry's buffers belong to the slots, which outlive
        // every command (as in `RingThread::push`).
        let submitted = unsafe { queue(&mut side, &sqe) }.and_then(|_| side.submit());
        if let Err(e) = submitted {
            warn!(idx, "committing a reply through io_uring: {e}");
            drop(side);
            self.live.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn lock_side(&self) -> MutexGuard<'_, Uring> {
        self.side.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether the side ring has completions (without waiting for its
    /// lock: a thread holding it is submitting, and will signal).
    fn side_has_completions(&self) -> bool {
        self.side
            .try_lock()
            .is_ok_and(|mut side| !side.completion().is_empty())
    }
}

impl Drop for Shared {
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
    shared: Arc<Shared>,
    idx: usize,
    unique: u64,
    answered: bool,
}

impl Taken {
    /// Send `reply` (its `unique` must be the request's).
    pub(crate) fn reply(mut self, reply: &Reply) {
        self.answered = true;
        self.shared.answer(self.idx, self.unique, reply);
    }
}

impl Drop for Taken {
    fn drop(&mut self) {
        if !self.answered {
            let eio = Reply::error(self.unique, libc::EIO);
            self.shared.answer(self.idx, self.unique, &eio);
        }
    }
}

/// Queue `sqe` on `uring`, submitting what is queued first if its
/// submission queue is full; true if it did.
///
/// # Safety
/// What `sqe` points at must stay valid until its completion.
unsafe fn queue(uring: &mut Uring, sqe: &squeue::Entry128) -> io::Result<bool> {
    let mut submitted = false;
    // SAFETY: the caller's promise.
    while unsafe { uring.submission().push(sqe) }.is_err() {
        uring.submit()?;
        submitted = true;
    }
    Ok(submitted)
}

/// A non-blocking, close-on-exec eventfd.
fn eventfd() -> io::Result<OwnedFd> {
    use rustix::event::EventfdFlags;
    Ok(rustix::event::eventfd(
        0,
        EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK,
    )?)
}

/// `sqe` with its `addr` and `len` set: REGISTER's iovec array. (The
/// io-uring crate's command builder has no `len`.)
fn with_addr_len(sqe: squeue::Entry128, addr: u64, len: u32) -> squeue::Entry128 {
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
        let sqe = with_addr_len(sqe, 0x1122_3344_5566_7788, 2).user_data(9);
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
