//! The flush profile of one connection: how the server answers Tflush under
//! real use. Chains by length, Rflush latency, who won the race, and a
//! count per flush rule the server broke (DESIGN.md rules 2-7), each rule
//! logged once at warning level the first time it is broken.
//!
//! Pure bookkeeping: times are passed in, memory is bounded (the latency
//! histogram has a fixed number of buckets, whatever the traffic).

use std::fmt;
use std::time::Duration;

/// A flush rule a server can break, as the profile counts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// An Rflush came after the Rflush of a later Tflush for the same
    /// victim (which had answered it already, rule 2).
    RflushOutOfOrder,
    /// The victim's reply came after its chain's last Rflush (rule 3).
    VictimReplyAfterLastRflush,
    /// Rerror or Rlerror to a Tflush (rule 7).
    ErrorReplyToTflush,
    /// A Tflush naming its own tag got no answer in time.
    UnansweredSelfFlush,
    /// A Tflush got no answer within the flush timeout, though its victim
    /// had been answered (or every retry was spent).
    UnansweredFlush,
    /// A reply on a tag not in flight (released, never used, or a second
    /// reply to an answered request).
    ReplyOnReleasedTag,
    /// A reply whose type does not answer the request on its tag (a late
    /// reply of an earlier use of a reused tag, most likely).
    TypeMismatch,
}

impl Rule {
    /// Every rule, in the order the profile prints them.
    pub const ALL: [Rule; 7] = [
        Rule::RflushOutOfOrder,
        Rule::VictimReplyAfterLastRflush,
        Rule::ErrorReplyToTflush,
        Rule::UnansweredSelfFlush,
        Rule::UnansweredFlush,
        Rule::ReplyOnReleasedTag,
        Rule::TypeMismatch,
    ];

    /// A short stable name (for `--json` and tests).
    pub fn name(self) -> &'static str {
        match self {
            Rule::RflushOutOfOrder => "rflush_out_of_order",
            Rule::VictimReplyAfterLastRflush => "victim_reply_after_last_rflush",
            Rule::ErrorReplyToTflush => "error_reply_to_tflush",
            Rule::UnansweredSelfFlush => "unanswered_self_flush",
            Rule::UnansweredFlush => "unanswered_flush",
            Rule::ReplyOnReleasedTag => "reply_on_released_tag",
            Rule::TypeMismatch => "type_mismatch_on_reused_tag",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rule::RflushOutOfOrder => "Rflush out of order",
            Rule::VictimReplyAfterLastRflush => "victim reply after the last Rflush",
            Rule::ErrorReplyToTflush => "error reply to Tflush",
            Rule::UnansweredSelfFlush => "unanswered self-flush",
            Rule::UnansweredFlush => "unanswered Tflush",
            Rule::ReplyOnReleasedTag => "reply on a released tag",
            Rule::TypeMismatch => "type mismatch on a reused tag",
        })
    }
}

/// Buckets per doubling of the latency: a quantile is exact to 19 %.
const PER_OCTAVE: f64 = 4.0;
/// Buckets from 1 µs up to 2^40 µs (12 days); later ones land in the last.
const BUCKETS: usize = 160;
/// Chains of this many Tflush or more share the last length bucket.
pub const MAX_CHAIN_BUCKET: usize = 8;

/// Rflush latencies in log-spaced buckets: bounded memory, quantiles to
/// within one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latency {
    buckets: [u64; BUCKETS],
    count: u64,
    min: Duration,
    max: Duration,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            buckets: [0; BUCKETS],
            count: 0,
            min: Duration::ZERO,
            max: Duration::ZERO,
        }
    }
}

impl Latency {
    /// Record one latency.
    pub fn record(&mut self, d: Duration) {
        let us = d.as_secs_f64() * 1e6;
        let i = if us < 1.0 {
            0
        } else {
            ((us.log2() * PER_OCTAVE) as usize).min(BUCKETS - 1)
        };
        self.buckets[i] += 1;
        self.min = if self.count == 0 { d } else { self.min.min(d) };
        self.count += 1;
        self.max = self.max.max(d);
    }

    /// How many were recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The smallest recorded (zero when none was): about one round trip.
    pub fn min(&self) -> Duration {
        self.min
    }

    /// The largest recorded.
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The `q`-quantile (0..=1): the upper bound of its bucket, never more
    /// than the maximum. Zero when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Duration {
        let want = ((self.count as f64) * q.clamp(0.0, 1.0)).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= want && n > 0 {
                if i == BUCKETS - 1 {
                    // The overflow bucket has no upper bound but the max.
                    break;
                }
                let upper = 2f64.powf((i + 1) as f64 / PER_OCTAVE) * 1e-6;
                return Duration::from_secs_f64(upper).min(self.max);
            }
        }
        self.max
    }
}

/// How the server answered Tflush on this connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushProfile {
    /// Settled flush chains by their length: `[n]` counts chains of n + 1
    /// Tflush (the last bucket: that many or more).
    pub chains_by_length: [u64; MAX_CHAIN_BUCKET],
    /// Tflush naming their own tag sent (by the flush probe).
    pub self_flushes: u64,
    /// Time from a Tflush to its Rflush (to the Rflush that answered it).
    pub rflush_latency: Latency,
    /// Victims whose reply came before their chain's last Rflush.
    pub victims_won: u64,
    /// Of those, the chains whose every Rflush came after the victim's
    /// reply, and whose victim was still at work when the server got the
    /// Tflush: the server held the Rflush until the victim finished. A
    /// victim answered within a quarter of the flush timeout of its first
    /// Tflush is taken to have been answered before the server read the
    /// Tflush, or held too briefly to matter.
    pub held_until_victim: u64,
    /// Chains of several Tflush where one Rflush answered more than one
    /// (the server answered only the last: allowed, rule 2).
    pub last_only: u64,
    /// Requests flushed on purpose by the flush probe.
    pub probes: u64,
    /// Probed requests that the server cancelled, sent again.
    pub probes_retried: u64,
    /// Count per rule broken, in [`Rule::ALL`] order.
    violations: [u64; Rule::ALL.len()],
}

impl FlushProfile {
    /// How often `rule` was broken.
    pub fn violations(&self, rule: Rule) -> u64 {
        self.violations[rule.index()]
    }

    /// Every rule with its count.
    pub fn violation_counts(&self) -> impl Iterator<Item = (Rule, u64)> + '_ {
        Rule::ALL.iter().map(|&r| (r, self.violations(r)))
    }

    /// Violations of every rule together.
    pub fn total_violations(&self) -> u64 {
        self.violations.iter().sum()
    }

    /// Count a chain that ended after `sent` Tflush.
    pub(super) fn chain_ended(&mut self, sent: u32) {
        if sent > 0 {
            let i = (sent as usize - 1).min(MAX_CHAIN_BUCKET - 1);
            self.chains_by_length[i] += 1;
        }
    }

    /// Whether a victim answered `after` its first Tflush was still at
    /// work when the server read the Tflush, as far as the profile can
    /// tell (see [`FlushProfile::held_until_victim`]).
    pub(super) fn was_at_work(after: Duration, flush_timeout: Duration) -> bool {
        after > flush_timeout / 4
    }

    /// Count a broken rule; the first time, log it at warning level with
    /// `detail` (the tags and message types involved).
    pub(super) fn breach(&mut self, rule: Rule, detail: &str) {
        let n = &mut self.violations[rule.index()];
        *n += 1;
        if *n == 1 {
            tracing::warn!(
                rule = rule.name(),
                "the server broke a flush rule ({rule}): {detail}; further ones are only counted"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_bucket_and_capped_by_max() {
        let mut l = Latency::default();
        assert_eq!(l.quantile(0.5), Duration::ZERO);
        for ms in 1..=100u64 {
            l.record(Duration::from_millis(ms));
        }
        let med = l.quantile(0.5).as_secs_f64();
        assert!((0.050..=0.050 * 1.19 + 1e-9).contains(&med), "{med}");
        let p99 = l.quantile(0.99).as_secs_f64();
        assert!((0.099..=0.100).contains(&p99), "{p99}");
        assert_eq!(l.max(), Duration::from_millis(100));
        assert_eq!(l.count(), 100);
    }

    #[test]
    fn extremes_land_in_the_end_buckets() {
        let mut l = Latency::default();
        l.record(Duration::ZERO);
        l.record(Duration::from_secs(1 << 50));
        assert_eq!(l.buckets[0], 1);
        assert_eq!(l.buckets[BUCKETS - 1], 1);
        assert_eq!(l.quantile(1.0), Duration::from_secs(1 << 50));
    }

    #[test]
    fn chain_lengths_cap_at_the_last_bucket() {
        let mut p = FlushProfile::default();
        for n in [0, 1, 3, 3, 20] {
            p.chain_ended(n);
        }
        assert_eq!(p.chains_by_length[0], 1);
        assert_eq!(p.chains_by_length[2], 2);
        assert_eq!(p.chains_by_length[MAX_CHAIN_BUCKET - 1], 1);
    }
}
