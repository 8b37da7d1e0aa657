//! The cases of `ninep-mount check` (DESIGN.md, "Server check"). Each runs
//! on a connection of its own, so one case's damage cannot bias the next.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Result;
use ninep_client::wire::*;
use ninep_client::{Fid, Tag};

use super::raw::{is_attrs, RawConn, Received, Target, ROOT};
use super::verdict::{arrivals, judge_chain, wire_checks, Judged, Verdict};

/// How the check runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The server.
    pub target: Target,
    /// A file whose read blocks, relative to the attach root.
    pub victim: Option<String>,
    /// How long to wait for an answer before calling it a hang.
    pub wait: Duration,
    /// How long to keep listening after the last expected answer, for late
    /// replies on released tags.
    pub linger: Duration,
    /// How long a read must stay unanswered to count as blocked.
    pub block_check: Duration,
    /// The victimfs the victim lies in, when it runs on this machine
    /// (`ninep-mount victimfs`; its pid): the check releases its reads.
    pub release: Option<i32>,
    /// How long Tflushes go unanswered before the victim is released
    /// (with [`Settings::release`]): a server may hold its Rflush until
    /// the victim completes, and this lets every case settle.
    pub hold: Duration,
}

impl Settings {
    fn release_victims(&self) {
        if let Some(pid) = self.release {
            crate::victimfs::release(pid);
        }
    }
}

/// What a case runs: its exchange on a fresh connection, judged.
type CaseFn =
    for<'a> fn(&'a Settings, &'a mut RawConn) -> Pin<Box<dyn Future<Output = Result<Judged>> + 'a>>;

/// A case's name, whether it needs a blocking victim, what it checks, and
/// what it runs.
pub struct Case {
    /// Short name, as printed.
    pub name: &'static str,
    /// Needs `--victim`.
    pub needs_victim: bool,
    /// One line for `--help`-like listings.
    pub about: &'static str,
    run: CaseFn,
}

/// Every case, in the order run.
pub const CASES: &[Case] = &[
    Case {
        name: "unused-tag",
        needs_victim: false,
        about: "Tflush of a tag never used",
        run: |s, c| Box::pin(unused_tag(s, c)),
    },
    Case {
        name: "after-completion",
        needs_victim: false,
        about: "Tflush of a request already answered",
        run: |s, c| Box::pin(after_completion(s, c)),
    },
    Case {
        name: "self-flush",
        needs_victim: false,
        about: "Tflush whose oldtag is its own tag",
        run: |s, c| Box::pin(self_flush(s, c)),
    },
    Case {
        name: "single",
        needs_victim: true,
        about: "one Tflush of a blocked read",
        run: |s, c| Box::pin(chain(s, c, 1)),
    },
    Case {
        name: "multiple",
        needs_victim: true,
        about: "three Tflush of one blocked read",
        run: |s, c| Box::pin(chain(s, c, 3)),
    },
    Case {
        name: "reuse",
        needs_victim: true,
        about: "the victim's tag reused right after the last Rflush",
        run: |s, c| Box::pin(reuse(s, c)),
    },
    Case {
        name: "flush-of-flush",
        needs_victim: true,
        about: "a Tflush aimed at a pending Tflush",
        run: |s, c| Box::pin(flush_of_flush(s, c)),
    },
    Case {
        name: "independent",
        needs_victim: true,
        about: "two blocked reads, flushed one at a time",
        run: |s, c| Box::pin(independent(s, c)),
    },
    Case {
        name: "unconfirmed",
        needs_victim: true,
        about: "no Rflush in time: does a second Tflush get one",
        run: |s, c| Box::pin(unconfirmed(s, c)),
    },
    Case {
        name: "storm",
        needs_victim: false,
        about: "200 Tflush at once, then a request",
        run: |s, c| Box::pin(storm(s, c)),
    },
    // Last: it leaves reads blocked in the server's workers, which some
    // servers do not survive (diod 1.0.24 dies once the connection closes).
    Case {
        name: "queued",
        needs_victim: true,
        about: "flush of a read queued behind 32 blocked reads",
        run: |s, c| Box::pin(queued(s, c)),
    },
];

const VICTIM_FID: Fid = Fid(1);

/// Run `case`; the Judged verdict with the connection's message log.
pub async fn run(case: &Case, s: &Settings) -> (Judged, Vec<super::raw::Event>) {
    let mut conn = match RawConn::open(&s.target).await {
        Ok(c) => c,
        Err(e) => {
            return (
                (Verdict::FailHang, format!("set-up failed: {e:#}")),
                Vec::new(),
            )
        }
    };
    let judged = match (case.run)(s, &mut conn).await {
        Ok(j) => j,
        Err(e) => (Verdict::FailHang, format!("{e:#}")),
    };
    let log = std::mem::take(&mut conn.log);
    // Nothing left blocked in the server, and its last replies read,
    // before the connection closes (diod 1.0.24 dies writing a reply to a
    // closed connection).
    if s.release.is_some() {
        s.release_victims();
        conn.collect(s.linger).await;
    }
    drop(conn);
    // A server can survive a case and die of its aftermath (diod 1.0.24
    // does, when a connection closes while its workers sit in blocked
    // reads): a fresh connection must still work.
    tokio::time::sleep(s.linger).await;
    if let Err(e) = alive(s).await {
        let why = format!("{}; then the server stopped answering: {e:#}", judged.1);
        return ((Verdict::FailHang, why), log);
    }
    (judged, log)
}

/// Connect, attach and get the root's attributes.
async fn alive(s: &Settings) -> Result<()> {
    let mut c = RawConn::open(&s.target).await?;
    c.setup(c.attrs_request(ROOT)).await?;
    Ok(())
}

fn flush(oldtag: u16) -> Tflush {
    Tflush {
        oldtag: Tag(oldtag),
    }
}

fn read(count: u32) -> Tread {
    Tread {
        fid: VICTIM_FID,
        offset: 0,
        count,
    }
}

fn is_rflush(r: &Received) -> bool {
    matches!(r.msg, Ok(Rmessage::Rflush(_)))
}

/// Wait until every tag in `want` got an Rflush or the bound passes, then
/// linger for late replies. Earlier flushes may never be answered (only the
/// last must be), but waiting the whole bound for them is what tells a
/// late, out-of-order Rflush from a missing one. Returns everything received.
async fn until_rflushed(c: &mut RawConn, s: &Settings, want: &[Tag]) -> Vec<Received> {
    let mut got = await_rflushes(c, s, want).await;
    got.extend(c.collect(s.linger).await);
    got
}

/// As [`until_rflushed`], without lingering: returns as soon as every tag
/// in `want` got its Rflush (or the bound passed).
async fn await_rflushes(c: &mut RawConn, s: &Settings, want: &[Tag]) -> Vec<Received> {
    let mut got: Vec<Received> = Vec::new();
    let start = tokio::time::Instant::now();
    let deadline = start + s.wait;
    let mut released = s.release.is_none();
    while !want
        .iter()
        .all(|t| got.iter().any(|r| r.tag == *t && is_rflush(r)))
    {
        let now = tokio::time::Instant::now();
        if !released && now >= start + s.hold {
            s.release_victims();
            released = true;
        }
        let until = if released {
            deadline
        } else {
            deadline.min(start + s.hold)
        };
        match c.recv(until.saturating_duration_since(now)).await {
            Some(r) => got.push(r),
            None if released => break,
            None => {}
        }
    }
    got
}

/// Open the victim and start a read of it on `tag`; `Some(reason)` when
/// the case cannot run (no victim, or its read did not block).
async fn start_victim(c: &mut RawConn, s: &Settings, tags: &[u16]) -> Result<Option<String>> {
    let Some(path) = &s.victim else {
        return Ok(Some(
            "needs a file whose read blocks (--victim PATH)".into(),
        ));
    };
    c.open_file(path, VICTIM_FID).await?;
    c.reset_log();
    for &t in tags {
        c.send(Tag(t), read(4096)).await?;
    }
    if let Some(r) = c.recv(s.block_check).await {
        let what = r
            .msg
            .as_ref()
            .map_or("a malformed reply".into(), |m| m.name().to_string());
        return Ok(Some(format!(
            "the victim's read did not block: {what} on tag {} within {:?}",
            r.tag.0, s.block_check
        )));
    }
    Ok(None)
}

fn skipped(why: String) -> Judged {
    (Verdict::Skipped, why)
}

/// A flush of something not in flight: an Rflush at once is all it takes.
fn judge_prompt(got: &[Received], ftag: Tag, s: &Settings) -> Judged {
    if let Some(j) = wire_checks(got, &[ftag]) {
        return j;
    }
    match got.iter().find(|r| r.tag == ftag) {
        Some(_) => (Verdict::Pass, "Rflush at once".into()),
        None => (Verdict::FailHang, format!("no Rflush within {:?}", s.wait)),
    }
}

async fn unused_tag(s: &Settings, c: &mut RawConn) -> Result<Judged> {
    c.reset_log();
    c.send(Tag(1), flush(500)).await?;
    let got = until_rflushed(c, s, &[Tag(1)]).await;
    Ok(judge_prompt(&got, Tag(1), s))
}

async fn after_completion(s: &Settings, c: &mut RawConn) -> Result<Judged> {
    c.reset_log();
    c.send(Tag(1), c.attrs_request(ROOT)).await?;
    c.reply(Tag(1), s.wait).await?;
    c.send(Tag(2), flush(1)).await?;
    let got = until_rflushed(c, s, &[Tag(2)]).await;
    if let Some(r) = got.iter().find(|r| r.tag == Tag(1)) {
        let what = r.msg.as_ref().map_or("malformed reply", |m| m.name());
        return Ok((Verdict::FailLateReply, format!("{what} on answered tag 1")));
    }
    Ok(judge_prompt(&got, Tag(2), s))
}

async fn self_flush(s: &Settings, c: &mut RawConn) -> Result<Judged> {
    c.reset_log();
    c.send(Tag(7), flush(7)).await?;
    let got = until_rflushed(c, s, &[Tag(7)]).await;
    Ok(judge_prompt(&got, Tag(7), s))
}

/// A blocked read on tag 1 and `n` Tflush of it on tags 2..
async fn chain(s: &Settings, c: &mut RawConn, n: u16) -> Result<Judged> {
    if let Some(why) = start_victim(c, s, &[1]).await? {
        return Ok(skipped(why));
    }
    let fs: Vec<Tag> = (2..2 + n).map(Tag).collect();
    for f in &fs {
        c.send(*f, flush(1)).await?;
    }
    let got = until_rflushed(c, s, &fs).await;
    if let Some(j) = wire_checks(&got, &fs) {
        return Ok(j);
    }
    Ok(judge_chain(&arrivals(&got, Tag(1), &fs), fs.len(), s.wait))
}

async fn reuse(s: &Settings, c: &mut RawConn) -> Result<Judged> {
    let (v, f) = (Tag(1), Tag(2));
    if let Some(why) = start_victim(c, s, &[v.0]).await? {
        return Ok(skipped(why));
    }
    c.send(f, flush(v.0)).await?;
    let got = await_rflushes(c, s, &[f]).await;
    if let Some(j) = wire_checks(&got, &[f]) {
        return Ok(j);
    }
    if !got.iter().any(|r| r.tag == f && is_rflush(r)) {
        return Ok(judge_chain(&arrivals(&got, v, &[f]), 1, s.wait));
    }
    // The tag is ours again: use it at once for a Tgetattr (Tstat).
    c.send(v, c.attrs_request(ROOT)).await?;
    let mut after = Vec::new();
    while let Some(r) = c.recv(s.wait).await {
        let done = r.tag == v && r.msg.as_ref().is_ok_and(is_attrs);
        after.push(r);
        if done {
            break;
        }
    }
    after.extend(c.collect(s.linger).await);
    if let Some(j) = wire_checks(&[got.clone(), after.clone()].concat(), &[f]) {
        return Ok(j);
    }
    let on_v: Vec<_> = after.iter().filter(|r| r.tag == v).collect();
    match on_v.first().map(|r| &r.msg) {
        Some(Ok(m)) if is_attrs(m) && on_v.len() == 1 => Ok((
            Verdict::Pass,
            "the reused tag got only its own reply".into(),
        )),
        Some(Ok(m)) if is_attrs(m) => Ok((
            Verdict::FailLateReply,
            "a second reply on the reused tag after its Rgetattr".into(),
        )),
        Some(m) => Ok((
            Verdict::FailLateReply,
            format!(
                "{} on the reused tag before its Rgetattr: the old read's reply",
                m.as_ref().map_or("malformed reply", |m| m.name())
            ),
        )),
        None => Ok((
            Verdict::FailHang,
            format!("no reply on the reused tag within {:?}", s.wait),
        )),
    }
}

async fn flush_of_flush(s: &Settings, c: &mut RawConn) -> Result<Judged> {
    if let Some(why) = start_victim(c, s, &[1]).await? {
        return Ok(skipped(why));
    }
    c.send(Tag(2), flush(1)).await?;
    c.send(Tag(3), flush(2)).await?;
    let got = until_rflushed(c, s, &[Tag(2), Tag(3)]).await;
    if let Some(j) = wire_checks(&got, &[Tag(2), Tag(3)]) {
        return Ok(j);
    }
    let at = |t: u16| got.iter().position(|r| r.tag == Tag(t) && is_rflush(r));
    // When the flush-of-flush's Rflush came, from its Tflush, by the log.
    let held = rflush_delay(&c.log, 3).is_some_and(|d| d > s.wait / 2);
    Ok(match (at(2), at(3)) {
        (Some(a), Some(b)) if b < a => (
            Verdict::FailOrder,
            "Rflush of the flush-of-flush came before the Rflush of the flush it names".into(),
        ),
        (Some(_), Some(_)) if held => (
            Verdict::PassMinimal,
            "in order, but the Rflush of the flush-of-flush was held for most of the wait".into(),
        ),
        (Some(_), Some(_)) => (
            Verdict::Pass,
            "the flush's Rflush first, then the other's".into(),
        ),
        (None, Some(_)) => (
            Verdict::FailHang,
            "the first Tflush was never answered".into(),
        ),
        (_, None) => (
            Verdict::FailHang,
            format!("no Rflush to the flush-of-flush within {:?}", s.wait),
        ),
    })
}

async fn queued(s: &Settings, c: &mut RawConn) -> Result<Judged> {
    let busy: Vec<u16> = (10..42).collect();
    if let Some(why) = start_victim(c, s, &busy).await? {
        return Ok(skipped(why));
    }
    c.send(Tag(1), read(4096)).await?;
    c.send(Tag(2), flush(1)).await?;
    let got = until_rflushed(c, s, &[Tag(2)]).await;
    let judged = match wire_checks(&got, &[Tag(2)]) {
        Some(j) => j,
        None => judge_chain(&arrivals(&got, Tag(1), &[Tag(2)]), 1, s.wait),
    };
    // Let the busy reads go, so the server is not left holding them (on
    // tags from 500 up: clean-up, not evidence).
    for &t in &busy {
        c.send(Tag(t + 500), flush(t)).await?;
    }
    c.collect(s.linger).await;
    Ok(judged)
}

async fn independent(s: &Settings, c: &mut RawConn) -> Result<Judged> {
    if let Some(why) = start_victim(c, s, &[1, 2]).await? {
        return Ok(skipped(why));
    }
    c.send(Tag(3), flush(1)).await?;
    let first = until_rflushed(c, s, &[Tag(3)]).await;
    c.send(Tag(4), flush(2)).await?;
    let second = until_rflushed(c, s, &[Tag(4)]).await;
    let first_len = first.len();
    let all = [first, second].concat();
    if let Some(j) = wire_checks(&all, &[Tag(3), Tag(4)]) {
        return Ok(j);
    }
    // Each victim judged on its own chain: replies on the other's tags are
    // not evidence about this one.
    let j1 = judge_chain(&arrivals(&all, Tag(1), &[Tag(3)]), 1, s.wait);
    let j2 = if first_len > 0 && all[..first_len].iter().any(|r| r.tag == Tag(2)) {
        // The second read finished before its Tflush went out: that flush
        // named an answered tag, and this case's question did not arise.
        match judge_prompt(&all[first_len..], Tag(4), s) {
            (v, why) if v.failed() => (v, why),
            _ => (
                Verdict::Inconclusive,
                "the second read ended before its Tflush went out: nothing independent was flushed"
                    .into(),
            ),
        }
    } else {
        judge_chain(&arrivals(&all, Tag(2), &[Tag(4)]), 1, s.wait)
    };
    Ok(worst(j1, j2))
}

async fn unconfirmed(s: &Settings, c: &mut RawConn) -> Result<Judged> {
    if let Some(why) = start_victim(c, s, &[1]).await? {
        return Ok(skipped(why));
    }
    c.send(Tag(2), flush(1)).await?;
    let first = until_rflushed(c, s, &[Tag(2)]).await;
    if let Some(j) = wire_checks(&first, &[Tag(2)]) {
        return Ok(j);
    }
    if first.iter().any(|r| r.tag == Tag(2)) {
        // Answered in time: the second Tflush this case is about was never
        // needed. A failure is still one.
        let (v, why) = judge_chain(&arrivals(&first, Tag(1), &[Tag(2)]), 1, s.wait);
        return Ok(match v.failed() {
            true => (v, why),
            false => (
                Verdict::Inconclusive,
                format!(
                    "the first Tflush was answered within {:?} ({why}): no second one was needed",
                    s.wait
                ),
            ),
        });
    }
    // As our client does after its flush timeout: flush again.
    c.send(Tag(3), flush(1)).await?;
    let second = until_rflushed(c, s, &[Tag(3)]).await;
    let all = [first, second].concat();
    if let Some(j) = wire_checks(&all, &[Tag(2), Tag(3)]) {
        return Ok(j);
    }
    let (v, why) = judge_chain(&arrivals(&all, Tag(1), &[Tag(2), Tag(3)]), 2, s.wait * 2);
    Ok(match v {
        Verdict::Pass | Verdict::PassMinimal => (
            Verdict::PassMinimal,
            format!(
                "no Rflush within {:?}; the second Tflush was answered ({why})",
                s.wait
            ),
        ),
        v => (v, why),
    })
}

async fn storm(s: &Settings, c: &mut RawConn) -> Result<Judged> {
    c.reset_log();
    let tags: Vec<Tag> = (1..=200).map(Tag).collect();
    for t in &tags {
        c.send(*t, flush(t.0 + 20000)).await?;
    }
    let got = until_rflushed(c, s, &tags).await;
    if let Some(j) = wire_checks(&got, &tags) {
        return Ok(j);
    }
    let answered = tags
        .iter()
        .filter(|t| got.iter().any(|r| r.tag == **t))
        .count();
    c.send(Tag(300), c.attrs_request(ROOT)).await?;
    let alive = c.reply(Tag(300), s.wait).await.is_ok();
    Ok(match (answered, alive) {
        (200, true) => (
            Verdict::Pass,
            "200 Rflush, and the server still answers".into(),
        ),
        (n, true) => (Verdict::FailHang, format!("{n} of 200 Tflush answered")),
        (n, false) => (
            Verdict::FailHang,
            format!("{n} of 200 Tflush answered, then no answer to a Tgetattr: the server stopped"),
        ),
    })
}

/// How long after its Tflush on `tag` the Rflush came, by the case's log.
fn rflush_delay(log: &[super::raw::Event], tag: u16) -> Option<Duration> {
    use super::raw::Dir;
    let sent = log
        .iter()
        .find(|e| e.dir == Dir::Out && e.tag == tag && e.msg == "Tflush")?;
    let got = log
        .iter()
        .find(|e| e.dir == Dir::In && e.tag == tag && e.msg == "Rflush")?;
    Some(Duration::from_secs_f64(
        (got.ms - sent.ms).max(0.0) / 1000.0,
    ))
}

/// The worse of two verdicts (fail beats inconclusive beats pass-minimal
/// beats pass).
fn worst(a: Judged, b: Judged) -> Judged {
    let rank = |v: Verdict| match v {
        Verdict::Pass => 0,
        Verdict::Skipped => 1,
        Verdict::PassMinimal => 2,
        Verdict::Inconclusive => 3,
        _ => 4,
    };
    if rank(b.0) > rank(a.0) {
        b
    } else {
        a
    }
}
