#!/usr/bin/env bash
# Client read benchmark: reads one file from diod on loopback with
# 1, 4, 8 and 16 Treads in flight, and compares with `dd` of the same file on
# the local file system, in the same run.
#
#   scripts/bench-client.sh [--size SIZE] [--rounds N] [--depths LIST]
#       [--runtime current|multi] [--max-other CPUS] [--quiet-wait SECS]
#
#   --size        file size, bytes or with a K/M/G suffix (powers of 2);
#                 default 1G
#   --rounds      quiet rounds of alternating runs to take; default 5
#   --depths      Treads in flight, comma-separated; default 1,16,8,4 (1 and
#                 16 must be there for the goal)
#   --runtime     tokio runtime of ninep-bench; default current
#                 (current_thread: faster and cheaper than multi_thread here)
#   --max-other   a round during which other processes (and the hypervisor's
#                 steal) took more than this many CPUs is noisy: it is shown
#                 but left out of the table and run again, up to 3 x --rounds
#                 rounds in all; default 0.2 (the machine has 2 CPUs)
#   --quiet-wait  before each round, wait up to SECS for the machine to be
#                 idle; default 60
#
# Needs root (it mounts a tmpfs) and a Debian machine; installs diod with
# apt-get if missing. It makes a tmpfs in a temporary directory, a file of
# random bytes in it, starts diod exporting it on a free port of 127.0.0.1,
# builds ninep-bench (release), then runs, in each round, in this order:
# dd of the file to /dev/null with bs=1M, then ninep-bench once per depth.
# Page caches are dropped before every run (tmpfs keeps its data in memory
# whatever we do, so dd here measures the memory copy speed). Everything is
# undone on exit, also on failure or Ctrl-C.
#
# Prints one table of medians over the quiet rounds: MB/s (10^6 bytes/s),
# ratio to dd, ninep-bench's own CPU time per GiB, the ratio 16-in-flight /
# 1-in-flight and PASS/FAIL against the 2.5x goal. Exits non-zero when
# setting up or a run fails, not when the goal is missed.
set -euo pipefail

GOAL=2.5
size=1G
rounds=5
depths=1,16,8,4
runtime=current
max_other=0.2
quiet_wait=60

# shellcheck source=lib/bench.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"

while [ $# -gt 0 ]; do
    case "$1" in
    --size) size=${2:?--size needs a value}; shift 2 ;;
    --rounds) rounds=${2:?--rounds needs a value}; shift 2 ;;
    --depths) depths=${2:?--depths needs a value}; shift 2 ;;
    --runtime) runtime=${2:?--runtime needs a value}; shift 2 ;;
    --max-other) max_other=${2:?--max-other needs a value}; shift 2 ;;
    --quiet-wait) quiet_wait=${2:?--quiet-wait needs a value}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
    esac
done

bytes=$(numfmt --from=iec "$size" 2>/dev/null) || die "bad --size: $size"
[ "$bytes" -gt 0 ] || die "--size must be positive"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "bad --rounds: $rounds"
[[ "$depths" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "bad --depths: $depths"
IFS=, read -r -a depth_list <<<"$depths"
case "$runtime" in current | multi) ;; *) die "bad --runtime: $runtime" ;; esac
[[ "$max_other" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "bad --max-other: $max_other"
[[ "$quiet_wait" =~ ^[0-9]+$ ]] || die "bad --quiet-wait: $quiet_wait"
[ "$(id -u)" -eq 0 ] || die "needs root (mount -t tmpfs, drop_caches)"

# --- setup -----------------------------------------------------------------

install_missing diod:diod
diod_bin=$(bin diod)

build_ninep_bench

work=""
mounted=false
diod_pid=""
cleanup() {
    local rc=$?
    if [ -n "$diod_pid" ]; then
        kill "$diod_pid" 2>/dev/null || true
        wait "$diod_pid" 2>/dev/null || true
    fi
    if "$mounted"; then
        umount "$work/export" || say "warning: could not unmount $work/export"
    fi
    if [ -n "$work" ]; then
        rm -rf "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

work=$(mktemp -d /tmp/ninep-bench.XXXXXX)
mkdir "$work/export"
# Room for the file and the file system's own overhead.
mount -t tmpfs -o "size=$((bytes + (64 << 20)))" tmpfs "$work/export"
mounted=true
file="$work/export/bench.dat"
say "writing $bytes random bytes to $file (tmpfs)"
head -c "$bytes" /dev/urandom >"$file"
[ "$(stat -c %s "$file")" -eq "$bytes" ] || die "short file $file"

# diod on a free port (lib/bench.sh), retried if someone else takes it.
start_on_free_port "$work/diod.out" "$diod_bin" -f -n -c /dev/null \
    -l "127.0.0.1:@PORT@" -e "$work/export" -L "$work/diod.log" ||
    die "diod did not start: $(tail -c 2000 "$work/diod.log" "$work/diod.out" 2>/dev/null)"
diod_pid=$started_pid
port=$started_port
diod_version=$(dpkg-query -W -f='${Version}' diod 2>/dev/null || true)
say "diod (pid $diod_pid) exports $work/export on 127.0.0.1:$port"

# --- runs ------------------------------------------------------------------

drop_caches() {
    sync
    echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
}

# dd's last line: "N bytes (...) copied, SECS s, RATE"; prints MB/s.
dd_mbs() {
    local out
    out=$(LC_ALL=C dd if="$file" of=/dev/null bs=1M 2>&1) || die "dd failed: $out"
    awk '/bytes/ && /copied/ {
        for (i = 1; i <= NF; i++) if ($i == "s,") secs = $(i - 1)
        if (secs > 0) printf "%.1f\n", $1 / secs / 1e6
    }' <<<"$out"
}

# One ninep-bench run at depth $1; sets bench_mb_s, bench_cpu, bench_rss.
bench_run() {
    local out=$work/bench.out
    "$bench_bin" "127.0.0.1:$port" --aname "$work/export" --file bench.dat \
        --depth "$1" --runs 1 --runtime "$runtime" >"$out" ||
        die "ninep-bench --depth $1 failed"
    [ -n "$info" ] || info=$(grep '^info ' "$out" || true)
    bench_mb_s=$(awk '$1 == "median" {
        for (i = 2; i <= NF; i++) if ($i ~ /^mb_s=/) print substr($i, 6) }' "$out")
    bench_cpu=$(awk '$1 == "median" {
        for (i = 2; i <= NF; i++) if ($i ~ /^cpu_secs=/) print substr($i, 10) }' "$out")
    bench_rss=$(sed -n 's/^peak_rss_kib=//p' "$out")
    [ -n "$bench_mb_s" ] || die "could not parse ninep-bench's output: $(cat "$out")"
}

# What the rest of the machine did during a round, in clock ticks: all
# user + nice + system + irq + softirq time (/proc/stat; a process's system
# time includes the interrupts served in its context) less diod's and this
# script's own (with its children: dd, ninep-bench). Steal is time the hypervisor gave
# our virtual CPUs to someone else. Both as CPUs' worth (0 to 2 on 2 cores).
hz=$(getconf CLK_TCK)
machine_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8, $9 }' /proc/stat; }
# utime + stime (+ cutime + cstime when $2 is "children") of pid $1.
proc_ticks() {
    awk -v c="${2:-}" '{ sub(/^.*\) /, ""); t = $12 + $13; if (c == "children") t += $14 + $15; print t }' "/proc/$1/stat"
}
ticks_now() {
    local busy steal
    read -r busy steal < <(machine_ticks)
    echo "$busy $steal $(proc_ticks "$diod_pid") $(proc_ticks $$ children) $EPOCHREALTIME"
}
# Prints "other steal" in CPUs between two ticks_now samples.
other_load() {
    awk -v hz="$hz" -v a="$1" -v b="$2" 'BEGIN {
        split(a, x, " "); split(b, y, " ")
        secs = y[5] - x[5]; if (secs <= 0) secs = 1e-9
        other = (y[1] - x[1]) - (y[3] - x[3]) - (y[4] - x[4])
        if (other < 0) other = 0
        printf "%.2f %.2f\n", other / hz / secs, (y[2] - x[2]) / hz / secs
    }'
}

# Waits up to $1 seconds for a 2-second spell in which the machine is idle
# but for diod (< 0.1 CPUs busy); returns at once when it is.
wait_quiet() {
    local until=$((SECONDS + $1)) a b
    while [ "$SECONDS" -lt "$until" ]; do
        a=$(ticks_now)
        sleep 2
        b=$(ticks_now)
        read -r other _ < <(other_load "$a" "$b")
        awk -v o="$other" 'BEGIN { exit !(o < 0.1) }' && return 0
    done
    say "the machine stayed busy for $1 s; going on"
}

# Kept (quiet) rounds and noisy ones, each keyed by row: "dd" or a depth.
declare -A kept=() noisy=() kept_cpu=() noisy_cpu=()
kept_rounds=0
noisy_rounds=0
others=""
info=""
peak_rss=0
attempt=0
max_attempts=$((rounds * 3))
while [ "$kept_rounds" -lt "$rounds" ] && [ "$attempt" -lt "$max_attempts" ]; do
    attempt=$((attempt + 1))
    wait_quiet "$quiet_wait"
    t0=$(ticks_now)
    declare -A got=() got_cpu=()
    drop_caches
    got[dd]=$(dd_mbs)
    [ -n "${got[dd]}" ] || die "could not parse dd's output"
    line="dd ${got[dd]}"
    for d in "${depth_list[@]}"; do
        drop_caches
        bench_run "$d"
        got[$d]=$bench_mb_s
        got_cpu[$d]=$bench_cpu
        if [[ "$bench_rss" =~ ^[0-9]+$ ]] && [ "$bench_rss" -gt "$peak_rss" ]; then
            peak_rss=$bench_rss
        fi
        line+=", $d in flight $bench_mb_s"
    done
    read -r other steal < <(other_load "$t0" "$(ticks_now)")
    others+="$other "
    if awk -v o="$other" -v s="$steal" -v m="$max_other" 'BEGIN { exit !(o + s <= m) }'; then
        kept_rounds=$((kept_rounds + 1))
        for k in "${!got[@]}"; do kept[$k]+="${got[$k]} "; done
        for k in "${!got_cpu[@]}"; do kept_cpu[$k]+="${got_cpu[$k]} "; done
        verdict="kept ($kept_rounds/$rounds)"
    else
        noisy_rounds=$((noisy_rounds + 1))
        for k in "${!got[@]}"; do noisy[$k]+="${got[$k]} "; done
        for k in "${!got_cpu[@]}"; do noisy_cpu[$k]+="${got_cpu[$k]} "; done
        verdict="noisy, not kept"
    fi
    say "round $attempt: $line MB/s; other processes $other CPUs, steal $steal CPUs: $verdict"
done

# With no quiet round at all, report the noisy ones rather than nothing.
used="$kept_rounds quiet rounds"
if [ "$kept_rounds" -eq 0 ]; then
    for k in "${!noisy[@]}"; do kept[$k]=${noisy[$k]}; done
    for k in "${!noisy_cpu[@]}"; do kept_cpu[$k]=${noisy_cpu[$k]}; done
    used="$noisy_rounds NOISY rounds (no round was quiet)"
fi

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 }
    END { if (NR % 2) printf "%.1f", v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }'; }

dd_med=$(median <<<"${kept[dd]}")
echo
echo "ninep-bench: $(numfmt --to=iec-i "$bytes")B file on tmpfs, diod ${diod_version:-?}, median of $used"
echo "${info#info }"
printf '%-24s %9s %12s %16s   %s\n' "row" "MB/s" "ratio to dd" "client CPU s/GiB" "runs (MB/s)"
printf '%-24s %9s %12s %16s   %s\n' "dd bs=1M (local tmpfs)" "$dd_med" "1.000" "-" "${kept[dd]}"
for d in $(tr ',' '\n' <<<"$depths" | sort -n -u); do
    m=$(median <<<"${kept[$d]}")
    c=$(median <<<"${kept_cpu[$d]}")
    c=$(awk -v c="$c" -v b="$bytes" 'BEGIN { printf "%.2f", c / (b / 1073741824) }')
    printf '%-24s %9s %12s %16s   %s\n' "9P read, $d in flight" "$m" "$(ratio "$m" "$dd_med")" "$c" "${kept[$d]}"
done
if [ -n "${kept[1]:-}" ] && [ -n "${kept[16]:-}" ]; then
    r=$(ratio "$(median <<<"${kept[16]}")" "$(median <<<"${kept[1]}")")
    verdict=$(awk -v r="$r" -v g="$GOAL" \
        'BEGIN { if (r !~ /^[0-9.]+$/) print "FAIL (no ratio)"; else print (r + 0 >= g + 0) ? "PASS" : "FAIL" }')
    echo "16 in flight / 1 in flight: ${r}x (goal >= ${GOAL}x): $verdict"
else
    echo "16 in flight / 1 in flight: not measured (--depths lacks 1 or 16)"
fi
echo "ninep-bench peak RSS (VmHWM, largest of all runs): $peak_rss KiB"
echo "other processes per round (CPUs): $others(limit $max_other); $noisy_rounds noisy rounds left out"
if [ "$kept_rounds" -lt "$rounds" ]; then
    echo "warning: only $kept_rounds of $rounds rounds were quiet; the figures are noisy"
fi
