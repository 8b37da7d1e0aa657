//! The `kernel::Filesystem` of a 9P mount: the state every handler
//! shares ([`MountState`]), the helpers they have in common (running under an
//! interrupt token, getting a fid for an inode and a uid, building
//! replies), and the trait impl, which only delegates: each group of
//! operations lives in a submodule.
//!
//! Every handler that talks to the server runs through [`Fs::run`], which
//! registers the FUSE request for interrupts and turns the handler's
//! [`Fail`] into the kernel's errno.

pub(crate) mod access;
pub(crate) mod create;
pub(crate) mod dir;
pub(crate) mod entry;
pub(crate) mod file;
pub(crate) mod lock;
pub(crate) mod plus;
pub(crate) mod remove;
mod restore;
pub(crate) mod setattr;
mod stream;
mod trait_impl;
mod window;
pub(crate) mod xattr;

use std::future::Future;
use std::ops::Deref;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::sync::OnceLock;
use std::time::Duration;

use crate::kernel::prelude::{ReplyAttr, ReplyEntry, Request};
use ninep_client::wire::{getattr, Qid, Rgetattr};
use ninep_client::{CancelToken, Client, File};
use tracing::debug;

use crate::attr::{file_attr, Overrides};
use crate::cache::{attr_lifetime, Cache};
use crate::config::{Access, CacheMode, MountConfig};
use crate::conn::Conn;
use crate::early::Early;
use crate::errno::Fail;
use crate::handles::Handles;
use crate::ino::Ino;
use crate::inode::{Found, Inodes};
use crate::interrupt::{Interrupts, Op};
use crate::kernel::session::Notifier;
use crate::prefetch::StoreGate;
use crate::users::user_name;

/// Reads and writes in flight for one FUSE read or write.
pub(crate) const IO_DEPTH: usize = 16;
/// The attributes asked for in every Tgetattr.
pub(crate) const ATTR_MASK: u64 = getattr::BASIC;

/// Whether the server has an optional message: learnt from the first use.
#[derive(Debug, Default)]
pub(crate) struct Cap(AtomicU8);

impl Cap {
    const YES: u8 = 1;
    const NO: u8 = 2;

    /// False once the server has refused the message.
    pub(crate) fn maybe(&self) -> bool {
        self.0.load(Ordering::Relaxed) != Self::NO
    }

    /// Record the outcome of a use: refused as unsupported or not.
    pub(crate) fn learn(&self, supported: bool) {
        let v = if supported { Self::YES } else { Self::NO };
        self.0.store(v, Ordering::Relaxed);
    }
}

/// What the server was found to lack (diod 1.0.24: Trenameat and
/// Tunlinkat; unpfs: Trename and Tremove).
#[derive(Debug, Default)]
pub(crate) struct Caps {
    pub renameat: Cap,
    pub unlinkat: Cap,
}

/// Whether an error says the server lacks the message.
pub(crate) fn unsupported(e: &Fail) -> bool {
    e.0 == libc::EOPNOTSUPP || e.0 == libc::ENOSYS
}

/// The state of one mount.
#[derive(Debug)]
pub(crate) struct MountState {
    /// The connection (replaced by a new one after `-o reconnect`).
    pub conn: Conn,
    pub cfg: MountConfig,
    pub inodes: Inodes,
    pub handles: Handles,
    /// What the mount remembers of the server (`cache.rs`).
    pub cache: Cache,
    /// The readahead to set at the first open (`readahead.rs`).
    pub readahead: crate::readahead::DeferredReadahead,
    pub intr: Interrupts,
    pub caps: Caps,
    /// Which prefetch stores may go ahead (see `prefetch.rs`).
    pub gate: Arc<StoreGate>,
    /// The bytes `cache=none` reads ahead, for all handles (`stream.rs`).
    pub held: crate::stream::Held,
    /// Our line to the kernel for those stores: the session's notifier,
    /// set once mounted.
    pub notifier: OnceLock<Notifier>,
    /// How the kernel's requests come (`/dev/fuse` or io_uring).
    pub transport: Arc<crate::kernel::session::Transport>,
    /// Files created and answered before their attributes came
    /// (`early.rs`).
    pub early: Arc<Early<u64>>,
    /// Open files whose every name is gone (`orphans.rs`).
    pub orphans: crate::orphans::Orphans,
}

/// Fids let go of at once when they come near their cap.
const SHED_BATCH: usize = 64;

impl MountState {
    /// Make `client` a connection of this mount: cap its fids (`maxfids`,
    /// and what an earlier connection learned the server accepts), and
    /// have it ask the inode table to let go of cached fids near the cap.
    pub(crate) fn adopt(self: &Arc<Self>, client: &Client, learned: Option<u32>) {
        if let Some(n) = self.cfg.max_fids {
            client.cap_fids(n);
        }
        if let Some(n) = learned {
            client.cap_fids(n);
        }
        let weak = Arc::downgrade(self);
        client.on_fid_pressure(Arc::new(move || {
            if let Some(s) = weak.upgrade() {
                let went = s.inodes.shed(SHED_BATCH);
                debug!(went, "fids near their cap: let go of cached ones");
            }
        }));
    }
}

/// The file system the session serves (a cheap handle on [`MountState`]).
#[derive(Debug, Clone)]
pub(crate) struct Fs(pub(crate) Arc<MountState>);

impl Deref for Fs {
    type Target = MountState;
    fn deref(&self) -> &MountState {
        &self.0
    }
}

/// `r` for the kernel, logged if it failed.
fn failed<T>(req: &Request, r: Result<T, Fail>) -> crate::kernel::Result<T> {
    if let Err(Fail(errno)) = r {
        debug!(unique = req.unique, errno, "FUSE request failed");
    }
    r.map_err(Into::into)
}

/// The facts of an Rgetattr the inode table keys on.
pub(crate) fn found(a: &Rgetattr) -> Found {
    Found {
        qid: a.qid,
        fmt: a.mode & libc::S_IFMT,
        nlink: a.nlink,
    }
}

impl MountState {
    /// The state for a mount whose attach (as `cfg.attach`) gave `root`.
    pub(crate) fn new(client: Client, cfg: MountConfig, root: File, root_qid: Qid) -> MountState {
        let inodes = Inodes::new(root_qid);
        inodes.set_fid(Ino::ROOT, cfg.attach.n_uname, root);
        MountState {
            conn: Conn::new(client),
            inodes,
            handles: Handles::default(),
            cache: Cache::new(&cfg),
            readahead: Default::default(),
            intr: Interrupts::default(),
            caps: Caps::default(),
            gate: Arc::default(),
            held: Default::default(),
            notifier: OnceLock::new(),
            transport: Arc::default(),
            early: Arc::default(),
            orphans: Default::default(),
            cfg,
        }
    }
}

impl Fs {
    /// Whose fids serve `req`: the caller's own with `access=user`, the
    /// mounter's with `access=client`.
    pub(crate) fn who(&self, req: &Request) -> u32 {
        match self.cfg.access {
            Access::User => req.uid,
            Access::Client => self.cfg.attach.n_uname,
        }
    }

    /// How long the kernel may trust attributes `a` of `ino` (and the
    /// name that led to them): as long as we do, no longer than attributes
    /// fetched now (those we hold keep the time they were fetched).
    pub(crate) fn lifetime(&self, ino: Ino, a: &Rgetattr) -> Duration {
        let whole = attr_lifetime(&self.cfg).of(a);
        match self.cache.attrs.trusted_for(ino) {
            Some(left) => left.min(whole),
            None => whole,
        }
    }

    pub(crate) fn overrides(&self) -> Overrides {
        Overrides {
            uid: self.cfg.uid,
            gid: self.cfg.gid,
            umask: self.cfg.umask,
        }
    }

    /// Run a handler's work with FUSE request `req` registered for
    /// interrupts (see `interrupt.rs`), its failure as an errno. With
    /// `-o reconnect`, work that starts while the connection is known to
    /// be lost first waits for the new one (see [`Fs::connected`]): it
    /// was not sent, so it is sent once, there.
    ///
    /// The work is boxed before anything else: a handler's future is up to
    /// 8 KiB, and held inline it would be held three times over (argument,
    /// scope, await) in a future that tokio copies whole when the session spawns
    /// it and again when it ends (20 KiB for a create: 6% of the mount's
    /// CPU in a file storm was such copies). Not `async` for that reason:
    /// the box is made when the handler calls this.
    pub(crate) fn run<'a, T: 'a>(
        &'a self,
        req: &'a Request,
        op: Op,
        work: impl Future<Output = Result<T, Fail>> + Send + 'a,
    ) -> impl Future<Output = crate::kernel::Result<T>> + Send + 'a {
        let work = Box::pin(work);
        async move {
            let reg = self.intr.register(req.unique, op);
            let token = reg.token();
            let r = match self.connected(token).await {
                Ok(()) => token.scope(work).await,
                Err(e) => Err(e),
            };
            failed(req, r)
        }
    }

    /// [`Fs::run`] without waiting for a lost connection to come back:
    /// for flush and release, so that close(2) never hangs on a server
    /// that is away. Boxed as [`Fs::run`] is.
    pub(crate) fn run_without_waiting<'a, T: 'a>(
        &'a self,
        req: &'a Request,
        op: Op,
        work: impl Future<Output = Result<T, Fail>> + Send + 'a,
    ) -> impl Future<Output = crate::kernel::Result<T>> + Send + 'a {
        let work = Box::pin(work);
        async move {
            let reg = self.intr.register(req.unique, op);
            failed(req, reg.token().scope(work).await)
        }
    }

    /// [`Fs::run`] for work that may be done twice (lookups, getattr,
    /// reads, readdir, statfs, readlink, opens that neither create nor
    /// truncate): with `-o reconnect`, if it fails with EIO because the
    /// connection was lost under it, it is done once more on the new
    /// connection (waited for; a FUSE interrupt ends the wait with EINTR).
    pub(crate) async fn run_retry<T, F, Fut>(
        &self,
        req: &Request,
        op: Op,
        work: F,
    ) -> crate::kernel::Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, Fail>>,
    {
        let reg = self.intr.register(req.unique, op);
        let token = reg.token();
        if let Err(e) = self.connected(token).await {
            return failed(req, Err(e));
        }
        let seen = self.cfg.reconnects().then(|| self.conn.seen());
        // Boxed as in [`Fs::run`].
        let mut r = token.scope(Box::pin(work())).await;
        let lost = matches!(r, Err(Fail(libc::EIO)));
        if lost && seen.is_some_and(|seen| self.conn.lost_since(&seen)) {
            debug!(
                unique = req.unique,
                "connection lost under the request: once more"
            );
            r = match self.connected(token).await {
                Ok(()) => token.scope(Box::pin(work())).await,
                Err(e) => Err(e),
            };
        }
        failed(req, r)
    }

    /// With `-o reconnect`, while the connection is known to be lost: wait
    /// for the new one (EIO if reconnecting is given up, EINTR if the
    /// FUSE request is interrupted meanwhile). At once otherwise.
    async fn connected(&self, token: &CancelToken) -> Result<(), Fail> {
        if !self.cfg.reconnects() {
            return Ok(());
        }
        let seen = self.conn.seen();
        if !self.conn.lost_since(&seen) {
            return Ok(());
        }
        tokio::select! {
            up = self.conn.wait_newer(&seen) => match up {
                true => Ok(()),
                false => Err(Fail(libc::EIO)),
            },
            () = token.cancelled() => Err(Fail(libc::EINTR)),
        }
    }

    /// The fid of inode `ino` for `uid`, walked now if there is none yet:
    /// from the nearest ancestor that has one, or from the uid's attach.
    pub(crate) async fn fid(&self, ino: Ino, uid: u32) -> Result<Arc<File>, Fail> {
        // A file just created may be walking to its own fid (`early.rs`).
        self.early.settled(ino).await;
        if let Some(f) = self.inodes.fid(ino, uid) {
            if self.conn.owns(&f) {
                return Ok(f);
            }
            self.drop_old_fids();
        }
        let stale = Fail(libc::ESTALE);
        let mut plan = self.inodes.plan(ino, uid).ok_or(stale)?;
        if plan.base.as_ref().is_some_and(|b| !self.conn.owns(b)) {
            self.drop_old_fids();
            plan = self.inodes.plan(ino, uid).ok_or(stale)?;
        }
        let base = match plan.base {
            Some(b) => b,
            None => self.attach(uid).await?,
        };
        if plan.names.is_empty() {
            return Ok(base);
        }
        let file = base.walk(&plan.names).await?;
        if file.qid().path != plan.qid.path {
            debug!(%ino, "walked to a different file: the path is stale");
            return Err(stale);
        }
        self.inodes.set_fid(ino, uid, file).ok_or(stale)
    }

    /// Forget the fids of a lost connection that reached the inode table
    /// after the reconnect had cleared it (a request of the old one that
    /// finished late).
    fn drop_old_fids(&self) {
        debug!("dropping fids of a lost connection");
        self.inodes.retain_fids(|f| self.conn.owns(f));
    }

    /// Run `op` on the fid of `ino` for `uid`. If the server no longer
    /// finds the file by that fid (ENOENT or ESTALE: a server that keeps
    /// paths in fids loses them when the name they were walked by goes,
    /// say a hard link removed or a rename made by someone else), drop it,
    /// walk a fresh one from the inode's current name and try once more.
    pub(crate) async fn with_fid<T, F, Fut>(&self, ino: Ino, uid: u32, op: F) -> Result<T, Fail>
    where
        F: Fn(Arc<File>) -> Fut,
        Fut: Future<Output = ninep_client::Result<T>>,
    {
        let f = self.fid(ino, uid).await?;
        match op(f.clone()).await.map_err(Fail::from) {
            Err(Fail(libc::ENOENT | libc::ESTALE)) if ino != Ino::ROOT => {
                debug!(%ino, uid, "fid gone stale; walking again");
                self.inodes.drop_fid(ino, uid, &f);
                let f = self.fid(ino, uid).await?;
                Ok(op(f).await?)
            }
            r => r,
        }
    }

    /// The root fid of `uid`, attaching as that user if needed.
    async fn attach(&self, uid: u32) -> Result<Arc<File>, Fail> {
        if let Some(f) = self.inodes.fid(Ino::ROOT, uid) {
            if self.conn.owns(&f) {
                return Ok(f);
            }
            self.drop_old_fids();
        }
        let a = &self.cfg.attach;
        let uname = if uid == a.n_uname {
            a.uname.clone()
        } else {
            // getpwuid_r may ask a network directory (NSS): off the
            // runtime, which may have a single worker (busy polling).
            tokio::task::spawn_blocking(move || user_name(uid))
                .await
                .unwrap_or_else(|_| uid.to_string())
        };
        debug!(uid, %uname, aname = %a.aname, "attaching for a new user");
        let root = self.conn.client().attach(&uname, &a.aname, uid).await?;
        self.inodes
            .set_fid(Ino::ROOT, uid, root)
            .ok_or(Fail(libc::ESTALE))
    }

    /// The attributes of `ino` through `file` (its fid or an open one),
    /// from the loose cache when fresh.
    pub(crate) async fn attrs_via(&self, ino: Ino, file: &File) -> Result<Rgetattr, Fail> {
        self.early.settled(ino).await;
        if let Some(a) = self.cache.attrs.get(ino) {
            return Ok(a);
        }
        let a = file.getattr(ATTR_MASK).await?;
        self.inodes.set_nlink(ino, a.nlink);
        self.cache.attrs.put(ino, &a);
        Ok(a)
    }

    /// The attributes of `ino` as `uid` sees them.
    pub(crate) async fn attrs(&self, ino: Ino, uid: u32) -> Result<Rgetattr, Fail> {
        self.early.settled(ino).await;
        if let Some(a) = self.cache.attrs.get(ino) {
            return Ok(a);
        }
        let a = self
            .with_fid(ino, uid, |f| async move { f.getattr(ATTR_MASK).await })
            .await?;
        self.inodes.set_nlink(ino, a.nlink);
        self.cache.attrs.put(ino, &a);
        Ok(a)
    }

    /// Look `name` up in `parent` (whose fid for `uid` is `dir`): a Twalk,
    /// and the attributes of what it finds. When the name is known,
    /// those come from the loose cache if fresh (no Tgetattr at all),
    /// else from a Tgetattr through the inode's fid sent along with the
    /// Twalk (one round trip instead of two; used only if the walk lands
    /// on the same file); with `cache=none`, the attributes last given to
    /// the kernel are given again if the walk lands on the same qid (no
    /// Tgetattr). A new name costs a Tgetattr after the walk.
    pub(crate) async fn look_up(
        &self,
        parent: Ino,
        name: &[u8],
        uid: u32,
        dir: &File,
    ) -> ninep_client::Result<ReplyEntry> {
        let child = self.inodes.child(parent, name);
        if let Some(ino) = child {
            self.early.settled(ino).await;
            if let Some(entry) = self.known_entry(parent, name, uid, ino) {
                return Ok(entry);
            }
            if let Some(entry) = self.known_name_entry(parent, name, uid, ino).await {
                return Ok(entry);
            }
        }
        let fresh = child.and_then(|ino| self.cache.attrs.get(ino)).is_some();
        // cache=none: what the kernel holds will do if the walk lands on
        // the same file (`AttrCache::repeat`): only the Twalk is needed.
        let repeat = child.and_then(|ino| self.cache.attrs.repeat(ino, self.appends()));
        let old = child
            .filter(|_| !fresh && repeat.is_none())
            .and_then(|ino| self.inodes.fid(ino, uid));
        let names = [name];
        let (file, ahead) = match old {
            Some(f) => {
                let (file, a) = tokio::join!(dir.walk(&names), f.getattr(ATTR_MASK));
                (file?, a.ok())
            }
            None => (dir.walk(&names).await?, repeat),
        };
        self.enter(parent, name, uid, file, ahead).await
    }

    /// `cache=loose`: the entry of `name` in `parent` (inode `ino` in the
    /// table) without a Twalk, when the name is known to be there
    /// (`complete.rs`: the directory's names are known whole, our own
    /// changes kept them exact) and the inode's attributes are fresh. The
    /// same promise as the kernel's own entries for the TTL. Or when the
    /// entry is owed: our create gave it to the kernel with a TTL of zero
    /// (`early.rs`).
    fn known_entry(&self, parent: Ino, name: &[u8], uid: u32, ino: Ino) -> Option<ReplyEntry> {
        let a = self.cache.attrs.get(ino)?;
        if !self.name_known(parent, name, uid, ino) {
            return None;
        }
        // The kernel counts this reply as a lookup of `ino`.
        self.inodes.bump(ino).then(|| self.entry(ino, &a))
    }

    /// The entry of `name` in `parent` (inode `ino`) when the name is
    /// known as [`Fs::known_entry`] says but the attributes are not: a
    /// Tgetattr through the inode's fid, no walk to a fid that would only
    /// be clunked (a file written since its create, as each object `git
    /// add` writes, or one whose attributes outlived their trust before
    /// its name did). `None` when the inode has no fid, or the fid no
    /// longer reaches the file: then a walk must do.
    async fn known_name_entry(
        &self,
        parent: Ino,
        name: &[u8],
        uid: u32,
        ino: Ino,
    ) -> Option<ReplyEntry> {
        if self.cfg.cache == CacheMode::None {
            return None;
        }
        let fid = self.inodes.fid(ino, uid)?;
        if !self.name_known(parent, name, uid, ino) {
            return None;
        }
        let a = fid.getattr(ATTR_MASK).await.ok()?;
        if Some(a.qid.path) != self.inodes.qid(ino).map(|q| q.path) {
            return None;
        }
        self.inodes.set_nlink(ino, a.nlink);
        self.cache.attrs.put(ino, &a);
        self.inodes.bump(ino).then(|| self.entry(ino, &a))
    }

    /// Whether `name` in `parent` is known to lead to `ino` for `uid`
    /// without a walk: the directory's names are known whole, or the entry
    /// is owed to the kernel by our create (`early.rs`; asking settles
    /// the debt).
    fn name_known(&self, parent: Ino, name: &[u8], uid: u32, ino: Ino) -> bool {
        self.cache.known.present(parent, name, uid) || self.early.owed(parent, name, uid, ino)
    }

    /// Attach `file`, just walked to `name` in `parent` for `uid`, to the
    /// inode table (+1 lookup) and build the kernel's entry. Its
    /// attributes: fresh ones of the inode its qid names, from the loose
    /// cache; else `ahead` (fetched along with the walk) if they are the
    /// same file's; else a Tgetattr now.
    pub(crate) async fn enter(
        &self,
        parent: Ino,
        name: &[u8],
        uid: u32,
        file: File,
        ahead: Option<Rgetattr>,
    ) -> ninep_client::Result<ReplyEntry> {
        let qid = file.qid();
        let same = |a: &Rgetattr| a.qid == qid;
        // Attributes from the cache keep the time they were fetched: put
        // again, they would stay trusted for as long as lookups come.
        let (a, fetched) = match self.known_attrs(qid) {
            Some(a) => (a, false),
            None => match ahead.filter(same) {
                Some(a) => (a, true),
                None => (file.getattr(ATTR_MASK).await?, true),
            },
        };
        let f = Found { qid, ..found(&a) };
        let ino = self.inodes.lookup(parent, name, f, Some((uid, file)));
        if fetched {
            self.cache.attrs.put(ino, &a);
        }
        Ok(self.entry(ino, &a))
    }

    /// Trusted attributes (with the page cache) of the file `qid` names,
    /// to answer a lookup or readdirplus entry without a round trip: of
    /// the inode known by it, or of the one the kernel forgot (after
    /// `drop_caches`, or under memory pressure) whose number the file
    /// would get back.
    pub(crate) fn known_attrs(&self, qid: Qid) -> Option<Rgetattr> {
        let ino = self.inodes.number_for(qid)?;
        let a = self.cache.attrs.get(ino)?;
        (a.qid.path == qid.path && a.qid.ty == qid.ty).then_some(a)
    }

    /// Whether the server appends by itself for a file opened `O_APPEND`
    /// (9P2000.L: Tlopen takes the flag), whatever offset the kernel gives.
    pub(crate) fn appends(&self) -> bool {
        self.conn.dialect() == ninep_client::wire::Dialect::L
    }

    /// Note that the kernel is given attributes `a` of `ino` (with
    /// `cache=cto`, whose opens compare them with the server's).
    pub(crate) fn tell(&self, ino: Ino, a: &Rgetattr) {
        if self.cfg.cache == CacheMode::Cto {
            self.cache.view.told(ino, a);
        }
    }

    /// The kernel's entry for `ino` with attributes `a`.
    pub(crate) fn entry(&self, ino: Ino, a: &Rgetattr) -> ReplyEntry {
        self.tell(ino, a);
        ReplyEntry {
            ttl: self.lifetime(ino, a),
            attr: file_attr(ino, a, self.overrides()),
            generation: 0,
        }
    }

    /// The kernel's attribute reply for `ino` with attributes `a`.
    pub(crate) fn attr_reply(&self, ino: Ino, a: &Rgetattr) -> ReplyAttr {
        self.tell(ino, a);
        ReplyAttr {
            ttl: self.lifetime(ino, a),
            attr: file_attr(ino, a, self.overrides()),
        }
    }
}
