//! The session: read a request from the device, hand it to the
//! [`Filesystem`] as a task of its own, write the reply.
//!
//! - The INIT handshake comes first and is answered before anything else
//!   is read ([`super::init`]).
//! - Each request is copied out of the read buffer (sized for the largest
//!   write) into one of its own size, so the task owns it and the next
//!   read can start at once; a big one (a WRITE) takes the read buffer
//!   itself instead, and the loop reads on into another ([`super::msg`]).
//! - A request's `unique` is put in the set of those in service *before*
//!   its task is spawned: the kernel sends an INTERRUPT only for a request
//!   it has handed over, and this loop reads requests one after the
//!   other, so an interrupt always finds its target here, either in
//!   service or already answered (then there is nothing to do).
//! - FORGET and BATCH_FORGET have no reply and are applied in the loop, in
//!   the order the kernel sent them.
//! - Replies are written from the tasks, each as one vectored write; a
//!   read's bytes go to the kernel as the file system handed them.
//! - The session ends when the device says the file system is gone
//!   (ENODEV, after an unmount), or on DESTROY.
//! - With FUSE over io_uring ([`super::uring`]), requests come through
//!   the ring's entries and go to the same tasks; this loop then reads
//!   only forgets and interrupts. An interrupt may overtake its target
//!   there (they travel apart), so every interrupt is passed on, and the
//!   file system holds one that is early.

use std::collections::HashSet;
use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{Stream, StreamExt};
use tracing::{debug, warn};

use super::abi;
use super::abi::Opcode;
use super::dev::Device;
use super::filesystem::Filesystem;
use super::init::{negotiate, Answer};
use super::msg::{Buffers, Msg};
use super::op::{decode, peek, Operation};
use super::reply::{notify, DirPacker, DirPlusPacker, Push, Reply};
use super::types::{DirectoryEntry, DirectoryEntryPlus, Errno, Request, Result};
use super::uring::{self, Taken, Uring};

/// The requests in service: their `unique`s, from the moment they are read
/// until their reply is written.
#[derive(Debug, Default)]
struct InService(Mutex<HashSet<u64>>);

impl InService {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<u64>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A served mount's line to the kernel for what is not a reply: the
/// notifications (a store of pages into the page cache, an invalidation).
/// It does not keep the device open: once the session has ended, sending
/// fails with ENOTCONN.
#[derive(Debug, Clone)]
pub(crate) struct Notifier {
    dev: Weak<Device>,
}

impl Notifier {
    /// Put `data` in the page cache of `ino` at `offset` (FUSE_NOTIFY_STORE).
    pub(crate) fn store(&self, ino: u64, offset: u64, data: Bytes) -> io::Result<()> {
        self.send(notify::store(ino, offset, data))
    }

    fn send(&self, r: Reply) -> io::Result<()> {
        let dev = self.dev.upgrade().ok_or(io::ErrorKind::NotConnected)?;
        dev.write(&r.iovecs())
    }
}

/// Who may use the mount, beyond what the kernel lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Users {
    /// Whoever the kernel lets in (the mounter alone, or everyone with
    /// `allow_other`).
    Any,
    /// The mounter and root: `allow_root`, which the kernel does not know
    /// (it is mounted as `allow_other`), so the session refuses the rest.
    OwnerAndRoot(u32),
}

impl Users {
    fn lets_in(self, uid: u32) -> bool {
        match self {
            Users::Any => true,
            Users::OwnerAndRoot(owner) => uid == owner || uid == 0,
        }
    }
}

/// How the kernel's requests reach a session, for the mount's stats.
#[derive(Debug, Default)]
pub struct Transport {
    via_ring: AtomicBool,
    ring_requests: AtomicU64,
}

impl Transport {
    /// Whether requests come through FUSE over io_uring.
    pub fn via_ring(&self) -> bool {
        self.via_ring.load(Ordering::Relaxed)
    }

    /// Requests that came through io_uring.
    pub fn ring_requests(&self) -> u64 {
        self.ring_requests.load(Ordering::Relaxed)
    }
}

/// A session on a mounted device, not yet served.
#[derive(Debug)]
pub(crate) struct Session {
    dev: Arc<Device>,
    users: Users,
    transport: Arc<Transport>,
    /// With FUSE over io_uring: how long the ring's thread looks for its
    /// next request before it sleeps.
    ring_spin: Duration,
}

impl Session {
    /// A session on `dev`, which says how it is served in `transport`.
    pub(crate) fn new(dev: Device, users: Users, transport: Arc<Transport>) -> Session {
        Session {
            dev: Arc::new(dev),
            users,
            transport,
            ring_spin: Duration::ZERO,
        }
    }

    /// With FUSE over io_uring, the ring's thread looks for its next
    /// request for up to `spin` before it sleeps.
    pub(crate) fn ring_spin(mut self, spin: Duration) -> Session {
        self.ring_spin = spin;
        self
    }

    /// The notifier of this session (it works once INIT is answered).
    pub(crate) fn notifier(&self) -> Notifier {
        Notifier {
            dev: Arc::downgrade(&self.dev),
        }
    }

    /// Serve `fs` until the file system is unmounted (or the kernel sends
    /// DESTROY). Errors are the device's: a failed read, or an INIT that
    /// cannot be agreed on.
    pub(crate) async fn serve<F: Filesystem>(self, fs: Arc<F>) -> io::Result<()> {
        let dev = self.dev.clone();
        let mut buf = Vec::with_capacity(abi::FUSE_MIN_READ_BUFFER);
        let Some(agreed) = handshake(&*fs, &dev, &mut buf).await? else {
            return Ok(());
        };
        let buffers = Buffers::new(read_buffer_size(agreed.max_write));
        buf = buffers.take();
        let in_service = Arc::new(InService::default());
        let via_ring = match agreed.uring {
            Some((uring, queues)) => {
                let on_request = ring_requests(
                    fs.clone(),
                    in_service.clone(),
                    self.users,
                    self.transport.clone(),
                );
                let rt = tokio::runtime::Handle::current();
                let (payload, spin) = (agreed.payload, self.ring_spin);
                // Said before the ring starts: its thread serves requests
                // at once, and the stats must not show a ring at work as
                // `/dev/fuse`.
                self.transport.via_ring.store(true, Ordering::Relaxed);
                if let Err(e) =
                    uring::start(uring, dev.clone(), queues, payload, spin, rt, on_request)
                {
                    self.transport.via_ring.store(false, Ordering::Relaxed);
                    return Err(e);
                }
                true
            }
            None => false,
        };
        loop {
            let Some(n) = dev.read(&mut buf).await? else {
                break;
            };
            let msg = &buf[..n];
            let (h, opcode) = match peek(msg) {
                Ok(head) => head,
                Err(e) => {
                    warn!("a request from the kernel we cannot read: {e}");
                    continue;
                }
            };
            let kind = Opcode::from_u32(opcode);
            let in_loop = matches!(
                kind,
                Some(Opcode::Forget | Opcode::BatchForget | Opcode::Interrupt | Opcode::Destroy)
            );
            let forget = matches!(kind, Some(Opcode::Forget | Opcode::BatchForget));
            if !self.users.lets_in(h.uid) && !forget {
                write(&dev, &Reply::error(h.unique, libc::EACCES));
                continue;
            }
            if !in_loop {
                // Decoded (and checked) where it is served, once.
                let msg = Msg::from_read(&mut buf, &buffers);
                let work = serve_request(fs.clone(), in_service.clone(), msg, h.unique);
                let dev = dev.clone();
                tokio::spawn(async move {
                    if let Some(reply) = work.await {
                        write(&dev, &reply);
                    }
                });
                continue;
            }
            let req = match decode(msg) {
                Ok(r) => r,
                Err(e) => {
                    if let Some(reply) = refused(&e) {
                        write(&dev, &reply);
                    }
                    continue;
                }
            };
            match req.op {
                Operation::Forget { nlookup } => fs.forget(h, req.nodeid, nlookup).await,
                Operation::BatchForget(ref list) => fs.batch_forget(h, list).await,
                Operation::Interrupt { unique }
                    if via_ring || in_service.lock().contains(&unique) =>
                {
                    if let Err(e) = fs.interrupt(h, unique).await {
                        write(&dev, &Reply::error(h.unique, e.0));
                    }
                }
                Operation::Destroy => {
                    fs.destroy(h).await;
                    write(&dev, &Reply::ok(h.unique));
                    break;
                }
                // An interrupt of a request already answered: nothing to do.
                _ => {}
            }
        }
        fs.destroy(Request {
            unique: 0,
            uid: 0,
            gid: 0,
            pid: 0,
        })
        .await;
        Ok(())
    }
}

/// Serve the request in `msg`: its reply (none for a NOTIFY_REPLY). Its
/// `unique` is in service from now until the reply is made.
fn serve_request<F: Filesystem>(
    fs: Arc<F>,
    in_service: Arc<InService>,
    msg: Msg,
    unique: u64,
) -> impl Future<Output = Option<Reply>> + Send + 'static {
    in_service.lock().insert(unique);
    async move {
        let msg = msg.into_bytes();
        let reply = match decode(&msg) {
            Ok(req) => answer(&*fs, req, &msg).await,
            Err(e) => refused(&e),
        };
        in_service.lock().remove(&unique);
        reply
    }
}

/// What the ring's thread does with each request: serve it as the loop
/// does those of the device (DESTROY too: the device's loop ends with the
/// unmount), starting it on that thread (see [`uring::run_here_or_spawn`]).
fn ring_requests<F: Filesystem>(
    fs: Arc<F>,
    in_service: Arc<InService>,
    users: Users,
    transport: Arc<Transport>,
) -> impl FnMut(Vec<u8>, Taken) + Send + 'static {
    move |msg, entry| {
        transport.ring_requests.fetch_add(1, Ordering::Relaxed);
        let (h, opcode) = match peek(&msg) {
            Ok(head) => head,
            Err(e) => {
                warn!("a request from the kernel we cannot read: {e}");
                return;
            }
        };
        if !users.lets_in(h.uid) {
            entry.reply(&Reply::error(h.unique, libc::EACCES));
            return;
        }
        if Opcode::from_u32(opcode) == Some(Opcode::Destroy) {
            let fs = fs.clone();
            tokio::spawn(async move {
                fs.destroy(h).await;
                entry.reply(&Reply::ok(h.unique));
            });
            return;
        }
        let work = serve_request(fs.clone(), in_service.clone(), Msg::owned(msg), h.unique);
        uring::run_here_or_spawn(async move {
            // A NOTIFY_REPLY has no reply, but its entry goes back all the
            // same.
            let reply = work.await.unwrap_or_else(|| Reply::ok(h.unique));
            entry.reply(&reply);
        });
    }
}

/// Buffer for one request: the largest write with its headers, and never
/// less than the kernel accepts.
fn read_buffer_size(max_write: u32) -> usize {
    (max_write as usize + 4096).max(abi::FUSE_MIN_READ_BUFFER)
}

/// The answer to a request we cannot read: EIO, unless it is one the
/// kernel wants no answer to.
fn refused(e: &super::op::DecodeError) -> Option<Reply> {
    warn!("a request from the kernel we cannot read: {e}");
    e.reply_unique()
        .map(|unique| Reply::error(unique, libc::EIO))
}

/// Write a reply; one the kernel no longer waits for (ENOENT: its request
/// was interrupted and ended) is dropped.
fn write(dev: &Device, r: &Reply) {
    match dev.write(&r.iovecs()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
            debug!("a reply to a request the kernel gave up on")
        }
        Err(e) => warn!("writing a reply to the kernel: {e}"),
    }
}

/// What INIT settled.
struct Agreed {
    /// The largest write.
    max_write: u32,
    /// The largest request or reply payload (an io_uring entry's buffer).
    payload: usize,
    /// The ring and its queue count, if requests come through io_uring.
    uring: Option<(Uring, u16)>,
}

/// Read and answer INIT: what was agreed, or `None` if the file system
/// was unmounted first.
async fn handshake<F: Filesystem>(
    fs: &F,
    dev: &Device,
    buf: &mut Vec<u8>,
) -> io::Result<Option<Agreed>> {
    loop {
        let Some(n) = dev.read(buf).await? else {
            return Ok(None);
        };
        let req = decode(&buf[..n])
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        let Operation::Init(init) = req.op else {
            write(dev, &Reply::error(req.header.unique, libc::EIO));
            continue;
        };
        let mut want = fs
            .init(req.header)
            .await
            .map_err(|e| io::Error::from_raw_os_error(e.0))?;
        // Say io_uring only with a ring in hand: from the INIT reply on,
        // the kernel holds every request until the ring's entries come.
        let mut uring = None;
        if want.over_io_uring && init.flags & abi::FUSE_OVER_IO_URING != 0 {
            match uring::queues().and_then(|q| Ok((uring::new_uring(q)?, q))) {
                Ok(made) => uring = Some(made),
                Err(e) => {
                    debug!("FUSE over io_uring offered, but no ring: {e}");
                    want.over_io_uring = false;
                }
            }
        } else {
            want.over_io_uring = false;
        }
        let agreed = negotiate(&init, &want);
        dev.write(&agreed.answer.reply(req.header.unique).iovecs())?;
        match agreed.answer {
            Answer::Accept(out) => {
                let via_ring = agreed.flags & abi::FUSE_OVER_IO_URING != 0;
                debug!(
                    minor = agreed.minor,
                    flags = agreed.flags,
                    via_ring,
                    "FUSE INIT agreed"
                );
                return Ok(Some(Agreed {
                    max_write: out.max_write,
                    payload: payload_size(&out),
                    uring: uring.filter(|_| via_ring),
                }));
            }
            Answer::AskAgain { .. } => {}
            Answer::Refuse(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    format!("the kernel speaks FUSE {}.{}", init.major, init.minor),
                ))
            }
        }
    }
}

/// The kernel's largest payload: what an io_uring entry's buffer must
/// hold (it refuses a smaller one).
fn payload_size(out: &super::reply::InitOut) -> usize {
    let pages = usize::from(out.max_pages) * rustix::param::page_size();
    (out.max_write as usize)
        .max(pages)
        .max(abi::FUSE_MIN_READ_BUFFER)
}

/// Run one request's call and encode its reply (none for a NOTIFY_REPLY).
/// `msg` is the request's whole message, which a WRITE's data is sliced
/// from.
async fn answer<F: Filesystem>(fs: &F, req: super::op::Request<'_>, msg: &Bytes) -> Option<Reply> {
    let (h, ino) = (req.header, req.nodeid);
    let u = h.unique;
    let done = |r: Result<()>| r.map(|()| Reply::ok(u));
    let r: Result<Reply> = match req.op {
        Operation::Lookup { name } => fs.lookup(h, ino, name).await.map(|e| Reply::entry(u, &e)),
        Operation::Getattr { fh, flags } => fs
            .getattr(h, ino, fh, flags)
            .await
            .map(|a| Reply::attr(u, &a)),
        Operation::Setattr { fh, set } => fs
            .setattr(h, ino, fh, set)
            .await
            .map(|a| Reply::attr(u, &a)),
        Operation::Readlink => fs.readlink(h, ino).await.map(|d| Reply::data(u, d.data)),
        Operation::Symlink { name, link } => fs
            .symlink(h, ino, name, link)
            .await
            .map(|e| Reply::entry(u, &e)),
        Operation::Mknod {
            name, mode, rdev, ..
        } => fs
            .mknod(h, ino, name, mode, rdev)
            .await
            .map(|e| Reply::entry(u, &e)),
        Operation::Mkdir { name, mode, umask } => fs
            .mkdir(h, ino, name, mode, umask)
            .await
            .map(|e| Reply::entry(u, &e)),
        Operation::Unlink { name } => done(fs.unlink(h, ino, name).await),
        Operation::Rmdir { name } => done(fs.rmdir(h, ino, name).await),
        Operation::Rename {
            name,
            new_parent,
            new_name,
            flags,
        } => done(fs.rename(h, ino, name, new_parent, new_name, flags).await),
        Operation::Link { ino: old, new_name } => fs
            .link(h, old, ino, new_name)
            .await
            .map(|e| Reply::entry(u, &e)),
        Operation::Open { flags } => fs.open(h, ino, flags).await.map(|o| Reply::open(u, &o)),
        Operation::Read {
            fh, offset, size, ..
        } => fs
            .read(h, ino, fh, offset, size)
            .await
            .map(|d| Reply::data(u, d.data)),
        Operation::Write {
            fh,
            offset,
            data,
            write_flags,
            flags,
            ..
        } => fs
            .write(h, ino, fh, offset, msg.slice_ref(&data), write_flags, flags)
            .await
            .map(|w| Reply::write(u, &w)),
        Operation::Statfs => fs.statfs(h, ino).await.map(|s| Reply::statfs(u, &s)),
        Operation::Release {
            fh,
            flags,
            lock_owner,
            flush,
            ..
        } => done(fs.release(h, ino, fh, flags, lock_owner, flush).await),
        Operation::Fsync { fh, datasync } => done(fs.fsync(h, ino, fh, datasync).await),
        Operation::Setxattr { name, value, flags } => {
            done(fs.setxattr(h, ino, name, &value, flags, 0).await)
        }
        Operation::Getxattr { name, size } => fs
            .getxattr(h, ino, name, size)
            .await
            .map(|x| Reply::xattr(u, &x)),
        Operation::Listxattr { size } => fs
            .listxattr(h, ino, size)
            .await
            .map(|x| Reply::xattr(u, &x)),
        Operation::Removexattr { name } => done(fs.removexattr(h, ino, name).await),
        Operation::Flush { fh, lock_owner } => done(fs.flush(h, ino, fh, lock_owner).await),
        Operation::Opendir { flags } => fs.opendir(h, ino, flags).await.map(|o| Reply::open(u, &o)),
        Operation::Readdir { fh, offset, size } => {
            match fs.readdir(h, ino, fh, offset as i64).await {
                Ok(dir) => listing(DirPacker::new(size), dir.entries, u).await,
                Err(e) => Err(e),
            }
        }
        Operation::Readdirplus {
            fh,
            offset,
            size,
            lock_owner,
        } => {
            let plus = fs.readdirplus(h, ino, fh, offset, lock_owner.unwrap_or(0));
            match plus.await {
                Ok(dir) => listing(DirPlusPacker::new(size), dir.entries, u).await,
                Err(e) => Err(e),
            }
        }
        Operation::Releasedir { fh, flags } => done(fs.releasedir(h, ino, fh, flags).await),
        Operation::Fsyncdir { fh, datasync } => done(fs.fsyncdir(h, ino, fh, datasync).await),
        Operation::Getlk { fh, lk } => fs
            .getlk(h, ino, fh, lk.owner, lk.start, lk.end, lk.r#type, lk.pid)
            .await
            .map(|l| Reply::lock(u, &l)),
        // flock(2) locks are left to the kernel (we do not ask for
        // FUSE_FLOCK_LOCKS), so every SETLK here is a POSIX lock.
        Operation::Setlk { fh, lk, block, .. } => done(
            fs.setlk(
                h, ino, fh, lk.owner, lk.start, lk.end, lk.r#type, lk.pid, block,
            )
            .await,
        ),
        Operation::Access { mask } => done(fs.access(h, ino, mask).await),
        Operation::Create {
            name, mode, flags, ..
        } => fs
            .create(h, ino, name, mode, flags)
            .await
            .map(|c| Reply::created(u, &c)),
        Operation::NotifyReply { offset, data } => {
            // No reply to a NOTIFY_REPLY.
            let _ = fs
                .notify_reply(h, ino, offset, Bytes::copy_from_slice(&data))
                .await;
            return None;
        }
        _ => Err(Errno(libc::ENOSYS)),
    };
    Some(r.unwrap_or_else(|e| Reply::error(u, e.0)))
}

/// A listing being packed: READDIR's or READDIRPLUS's.
trait Listing {
    type Entry;
    fn push(&mut self, e: &Self::Entry) -> Push;
    fn is_empty(&self) -> bool;
    fn finish(self, unique: u64) -> Reply;
}

impl Listing for DirPacker {
    type Entry = DirectoryEntry;
    fn push(&mut self, e: &DirectoryEntry) -> Push {
        DirPacker::push(self, e)
    }
    fn is_empty(&self) -> bool {
        DirPacker::is_empty(self)
    }
    fn finish(self, unique: u64) -> Reply {
        DirPacker::finish(self, unique)
    }
}

impl Listing for DirPlusPacker {
    type Entry = DirectoryEntryPlus;
    fn push(&mut self, e: &DirectoryEntryPlus) -> Push {
        DirPlusPacker::push(self, e)
    }
    fn is_empty(&self) -> bool {
        DirPlusPacker::is_empty(self)
    }
    fn finish(self, unique: u64) -> Reply {
        DirPlusPacker::finish(self, unique)
    }
}

/// Pull entries into `packer` until one does not fit (it is dropped with
/// the stream: the file system takes back what it gave for it) or the
/// stream ends. An error ends the listing there; it is the answer only if
/// nothing was packed before it.
async fn listing<L: Listing>(
    mut packer: L,
    entries: impl Stream<Item = Result<L::Entry>>,
    unique: u64,
) -> Result<Reply> {
    let mut entries = std::pin::pin!(entries);
    while let Some(e) = entries.next().await {
        match e.map(|e| packer.push(&e)) {
            Ok(Push::Added { .. } | Push::Skipped) => {}
            Ok(Push::Full) => break,
            Err(e) if packer.is_empty() => return Err(e),
            Err(_) => break,
        }
    }
    Ok(packer.finish(unique))
}
