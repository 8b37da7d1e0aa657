//! What `ninep-mount stats` shows: a mount's counters and the flush profile
//! of its connection, as JSON (sent over the control socket and printed by
//! `--json`) and as text for people.

use std::fmt::Write as _;
use std::time::Duration;

use ninep_client::{FlushProfile, Rule, Traffic};
use ninep_fuse::{MountStats, StatsSource};
use serde::{Deserialize, Serialize};

/// The counters of one mount.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The mount point.
    pub mountpoint: String,
    /// The server, as given on the command line.
    pub server: String,
    /// Requests sent (Tflush not included).
    pub requests: u64,
    /// Requests by message type, most frequent first.
    pub requests_by_type: Vec<(String, u64)>,
    /// File bytes received in Rread.
    pub bytes_read: u64,
    /// File bytes the server said it wrote.
    pub bytes_written: u64,
    /// Fids the mount holds on the server.
    pub fids_in_use: usize,
    /// Inodes the mount knows.
    pub inodes: usize,
    /// Open file and directory handles.
    pub open_handles: usize,
    /// 9P requests in flight now.
    pub in_flight: usize,
    /// Requests the watchdog found waiting too long (`watchdog=`).
    pub overdue_requests: u64,
    /// Reconnections to the server (`-o reconnect`).
    pub reconnects: u64,
    /// Connections replaced while they served, to free the tags a server
    /// that broke the flush rules held.
    #[serde(default)]
    pub replacements: u64,
    /// When the connection was lost (seconds since the Unix epoch), while
    /// no new one serves: every request then fails with EIO until the
    /// mount is unmounted (or `-o reconnect` dials again).
    #[serde(default)]
    pub disconnected_since: Option<u64>,
    /// Prefetched ranges the kernel took into its page cache
    /// (`cache=loose`, `prefetch=`).
    #[serde(default)]
    pub prefetch_stores: u64,
    /// Bytes read ahead for `cache=none` readers now
    /// (`direct_read_ahead_kb=`).
    #[serde(default)]
    pub read_ahead_bytes: u64,
    /// Whether the kernel's requests come through FUSE over io_uring.
    #[serde(default)]
    pub uring: bool,
    /// Requests that came through io_uring.
    #[serde(default)]
    pub uring_requests: u64,
    /// Tflush sent, for interrupts and probes alike.
    pub flushes_sent: u64,
    /// Rflush received that answered a Tflush in flight.
    pub rflush_received: u64,
    /// Cancels the server never confirmed (the caller got EINTR or EIO).
    pub flushes_unconfirmed: u64,
    /// Tags held back until the server settles their flushes.
    pub quarantined_tags: usize,
    /// FUSE interrupts received.
    pub interrupts: u64,
    /// Protocol violations of every kind (each flush rule is in `profile`).
    pub violations: Violations,
    /// How the server answers Tflush.
    pub profile: Profile,
}

/// Protocol violations by kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violations {
    /// Replies on a tag not in flight.
    pub unknown_tag_replies: u64,
    /// Replies of the wrong type for their request.
    pub mismatched_replies: u64,
    /// Replies or Rflushes after their flush chain was closed.
    pub order_violations: u64,
    /// Error replies to Tflush.
    pub flush_errors: u64,
}

/// The flush profile (see `ninep_client::FlushProfile`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// `flushprobe=N` (0: off).
    pub probe_every: u32,
    /// Requests flushed on purpose.
    pub probes: u64,
    /// Of those, cancelled by the server and sent again.
    pub probes_retried: u64,
    /// Tflush naming their own tag sent.
    pub self_flushes: u64,
    /// Settled chains by number of Tflush: `[n]` has n + 1 (the last: that
    /// many or more).
    pub chains_by_length: Vec<u64>,
    /// Rflush answered, with their latency.
    pub rflush_count: u64,
    /// Median Rflush latency, microseconds.
    pub rflush_median_us: u64,
    /// 99th percentile, microseconds.
    pub rflush_p99_us: u64,
    /// Largest, microseconds.
    pub rflush_max_us: u64,
    /// Victims whose reply beat their chain's last Rflush.
    pub victims_won: u64,
    /// Of those, Rflush held until the victim finished.
    pub held_until_victim: u64,
    /// Rflush that answered several Tflush at once.
    pub last_only: u64,
    /// Each flush rule with how often the server broke it.
    pub rules: Vec<RuleCount>,
}

/// One flush rule and its count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCount {
    /// Stable name (`rflush_out_of_order`, ...).
    pub rule: String,
    /// As people say it.
    pub description: String,
    /// Times broken.
    pub count: u64,
}

impl Report {
    /// The report of the mount `src` serves on `mountpoint` from `server`.
    pub fn of(src: &StatsSource, mountpoint: &str, server: &str, probe_every: u32) -> Report {
        let s = src.stats();
        let mut r = Report::from_parts(&s, &src.traffic(), &src.flush_profile(), probe_every);
        r.mountpoint = mountpoint.into();
        r.server = server.into();
        r
    }

    fn from_parts(s: &MountStats, t: &Traffic, p: &FlushProfile, probe_every: u32) -> Report {
        let c = &s.client;
        let mut by_type: Vec<(String, u64)> = t
            .requests_by_type
            .iter()
            .map(|&(n, c)| (n.to_string(), c))
            .collect();
        by_type.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Report {
            mountpoint: String::new(),
            server: String::new(),
            requests: c.requests,
            requests_by_type: by_type,
            bytes_read: t.bytes_read,
            bytes_written: t.bytes_written,
            fids_in_use: s.fids_in_use,
            inodes: s.inodes,
            open_handles: s.open_handles,
            in_flight: c.in_flight,
            overdue_requests: c.overdue_requests,
            reconnects: s.reconnects,
            replacements: s.replacements,
            disconnected_since: s
                .disconnected_since
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
            prefetch_stores: s.prefetch_stores,
            read_ahead_bytes: s.read_ahead_bytes,
            uring: s.uring,
            uring_requests: s.uring_requests,
            flushes_sent: c.flushes_sent,
            rflush_received: c.rflush_received,
            flushes_unconfirmed: c.flushes_unconfirmed,
            quarantined_tags: s.quarantined_tags,
            interrupts: s.interrupts.seen,
            violations: Violations {
                unknown_tag_replies: c.unknown_tag_replies,
                mismatched_replies: c.mismatched_replies,
                order_violations: c.order_violations,
                flush_errors: c.flush_errors,
            },
            profile: Profile::of(p, probe_every),
        }
    }

    /// For people.
    pub fn text(&self) -> String {
        let mut o = String::new();
        let _ = self.write_text(&mut o);
        o
    }

    fn write_text(&self, o: &mut String) -> std::fmt::Result {
        writeln!(o, "{} on {}", self.server, self.mountpoint)?;
        match self.disconnected_since {
            None => writeln!(o, "connection      up")?,
            Some(at) => {
                let when = std::time::UNIX_EPOCH + Duration::from_secs(at);
                let ago = when.elapsed().unwrap_or_default().as_secs();
                writeln!(
                    o,
                    "connection      lost since {} ({ago} s ago): requests fail with EIO \
                     until it is unmounted",
                    humantime::format_rfc3339_seconds(when)
                )?
            }
        }
        let types: Vec<String> = self
            .requests_by_type
            .iter()
            .map(|(n, c)| format!("{n} {c}"))
            .collect();
        writeln!(
            o,
            "requests        {} ({})",
            self.requests,
            types.join(", ")
        )?;
        match self.uring {
            true => writeln!(
                o,
                "kernel          FUSE over io_uring ({} requests)",
                self.uring_requests
            )?,
            false => writeln!(o, "kernel          /dev/fuse")?,
        }
        writeln!(
            o,
            "bytes           {} read, {} written",
            self.bytes_read, self.bytes_written
        )?;
        writeln!(
            o,
            "in use          {} fids, {} inodes, {} open handles, {} requests in flight \
             ({} seen overdue by the watchdog)",
            self.fids_in_use, self.inodes, self.open_handles, self.in_flight, self.overdue_requests
        )?;
        writeln!(
            o,
            "flushes         {} Tflush sent, {} Rflush received, {} unconfirmed, \
             {} quarantined tags, {} interrupts",
            self.flushes_sent,
            self.rflush_received,
            self.flushes_unconfirmed,
            self.quarantined_tags,
            self.interrupts
        )?;
        let v = &self.violations;
        writeln!(
            o,
            "violations      {} replies on unknown tags, {} of the wrong type, \
             {} out of flush order, {} error replies to Tflush",
            v.unknown_tag_replies, v.mismatched_replies, v.order_violations, v.flush_errors
        )?;
        writeln!(
            o,
            "reconnects      {} (and {} connections replaced to free held tags)",
            self.reconnects, self.replacements
        )?;
        writeln!(
            o,
            "prefetch        {} ranges stored in the page cache, {} bytes read ahead now",
            self.prefetch_stores, self.read_ahead_bytes
        )?;
        self.profile.write_text(o)
    }
}

impl Profile {
    fn of(p: &FlushProfile, probe_every: u32) -> Profile {
        let us = |d: Duration| d.as_micros().min(u64::MAX.into()) as u64;
        let l = &p.rflush_latency;
        Profile {
            probe_every,
            probes: p.probes,
            probes_retried: p.probes_retried,
            self_flushes: p.self_flushes,
            chains_by_length: p.chains_by_length.to_vec(),
            rflush_count: l.count(),
            rflush_median_us: us(l.quantile(0.5)),
            rflush_p99_us: us(l.quantile(0.99)),
            rflush_max_us: us(l.max()),
            victims_won: p.victims_won,
            held_until_victim: p.held_until_victim,
            last_only: p.last_only,
            rules: Rule::ALL
                .iter()
                .map(|&r| RuleCount {
                    rule: r.name().into(),
                    description: r.to_string(),
                    count: p.violations(r),
                })
                .collect(),
        }
    }

    /// How often `rule` (its stable name) was broken.
    #[cfg(test)]
    pub fn broken(&self, rule: &str) -> u64 {
        self.rules
            .iter()
            .find(|r| r.rule == rule)
            .map_or(0, |r| r.count)
    }

    fn write_text(&self, o: &mut String) -> std::fmt::Result {
        let probe = match self.probe_every {
            0 => "off".to_string(),
            n => format!("one in {n}"),
        };
        writeln!(o, "\nflush profile   (flushprobe: {probe})")?;
        writeln!(
            o,
            "  probes        {} ({} cancelled by the server and sent again), {} self-flushes",
            self.probes, self.probes_retried, self.self_flushes
        )?;
        let chains: Vec<String> = self
            .chains_by_length
            .iter()
            .enumerate()
            .filter(|&(_, &n)| n > 0)
            .map(|(i, n)| format!("{}{}: {n}", i + 1, plus(i, self.chains_by_length.len())))
            .collect();
        writeln!(o, "  chains        {}", or_none(&chains.join(", ")))?;
        writeln!(
            o,
            "  Rflush        {} Tflush answered; latency median {}, p99 {}, max {}",
            self.rflush_count,
            ms(self.rflush_median_us),
            ms(self.rflush_p99_us),
            ms(self.rflush_max_us)
        )?;
        writeln!(
            o,
            "  races         victim's reply first {} (Rflush held until the victim finished {}); \
             one Rflush for several Tflush {}",
            self.victims_won, self.held_until_victim, self.last_only
        )?;
        writeln!(o, "  rules broken")?;
        for r in &self.rules {
            writeln!(o, "    {:<36}{}", r.description, r.count)?;
        }
        Ok(())
    }
}

fn plus(i: usize, len: usize) -> &'static str {
    if i + 1 == len {
        "+"
    } else {
        ""
    }
}

fn or_none(s: &str) -> &str {
    if s.is_empty() {
        "none"
    } else {
        s
    }
}

fn ms(us: u64) -> String {
    format!("{:.3} ms", us as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_names_every_rule_and_json_round_trips() {
        let r = Report {
            mountpoint: "/mnt".into(),
            server: "h:564".into(),
            requests_by_type: vec![("Tread".into(), 3)],
            requests: 3,
            ..Report::from_parts(
                &MountStats {
                    fids_in_use: 1,
                    inodes: 1,
                    open_handles: 0,
                    requests_in_service: 0,
                    quarantined_tags: 0,
                    flushes_sent: 0,
                    interrupts: Default::default(),
                    listings_read: 0,
                    listings_cached: 0,
                    reconnects: 2,
                    replacements: 1,
                    disconnected_since: Some(std::time::UNIX_EPOCH + Duration::from_secs(1)),
                    prefetch_ready: false,
                    prefetch_stores: 5,
                    read_ahead_bytes: 6,
                    uring: true,
                    uring_requests: 7,
                    client: Default::default(),
                },
                &Traffic::default(),
                &FlushProfile::default(),
                4,
            )
        };
        let text = r.text();
        for rule in Rule::ALL {
            assert!(text.contains(&rule.to_string()), "{rule}: {text}");
        }
        assert!(text.contains("requests        3 (Tread 3)"), "{text}");
        assert!(
            text.contains("kernel          FUSE over io_uring (7 requests)"),
            "{text}"
        );
        assert!(text.contains("one in 4"), "{text}");
        assert!(
            text.contains("reconnects      2 (and 1 connections replaced"),
            "{text}"
        );
        assert!(
            text.contains("connection      lost since 1970-01-01T00:00:01Z"),
            "{text}"
        );
        assert!(
            text.contains(
                "prefetch        5 ranges stored in the page cache, 6 bytes read ahead now"
            ),
            "{text}"
        );
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), r);
        assert_eq!(r.profile.broken("rflush_out_of_order"), 0);
    }
}
