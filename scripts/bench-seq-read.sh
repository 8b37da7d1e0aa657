#!/usr/bin/env bash
# Sequential read with cache=none against a minimal raw 9P client (run by
# hand, not CI): how close ninep-mount and its client library come to the
# least a 9P client needs to do with the same diod.
#
#   scripts/bench-seq-read.sh [--rounds 3] [--quick] [--quiet-wait SECS]
#
# diod exports a tmpfs holding a 512 MiB file of random bytes. Each round
# reads it whole with each target, the order rotating from round to round,
# page caches dropped before every run:
#
#   raw1 raw8 raw16   ninep-raw-read (tests/src/bin: std only, 9P by hand on
#                     one thread) with 1, 8 and 16 Treads in flight
#   bench8 bench16    ninep-bench (the project's client library, no FUSE)
#                     with 8 and 16 Treads in flight
#   mount             dd if=MNT/FILE of=/dev/null bs=1M through ninep-mount
#                     -o cache=none (mounted once, before the rounds)
#   ahead             the same through a second mount with
#                     -o cache=none,direct_read_ahead_kb=4096
#
# It prints the median MiB/s (2^20 bytes/s) of each target, the ratios
# mount / raw best and ninep-bench / raw best (raw best: the raw depth with
# the highest median) with their lowest and highest values round by round,
# and the goal line "mount >= 0.8x raw best: met|missed" (and the same for
# ahead).
#
#   --rounds N        rounds; default 3 (about a minute in all)
#   --quick           1 round (unless --rounds is given) and a 128 MiB file:
#                     to try the script, not to quote
#   --quiet-wait SECS before each round, wait up to SECS for the machine to
#                     be idle; default 10 (0: do not wait)
#   --delay-us N      every target reaches diod through ninep-delay, which
#                     holds each reply N µs: a network's round trip on one
#                     machine (the ratios then say what a remote user gets)
#
# Needs root; installs diod and fuse3 with apt-get if missing; builds
# ninep-mount, ninep-bench, ninep-raw-read and ninep-delay (release) into
# $CARGO_TARGET_DIR when it is set, else target/. Everything it starts or
# mounts is undone on exit. Exits non-zero when setting up or a run fails
# (a short read included), not when the goal is missed.
set -euo pipefail

rounds=3
quiet_wait=10
# shellcheck source=lib/bench.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"

GOAL=0.8
AHEAD_KB=4096
delay_us=""
args=()
while [ $# -gt 0 ]; do
    case "$1" in
    --delay-us)
        if [ $# -lt 2 ] || ! [[ "$2" =~ ^[0-9]+$ ]]; then
            die "--delay-us needs a number of microseconds"
        fi
        delay_us=$2
        shift 2
        ;;
    *)
        args+=("$1")
        shift
        ;;
    esac
done
bench_args ${args[@]+"${args[@]}"}
[ -z "$only" ] || die "--only is not taken here"
size_mib=512
if "$quick"; then
    size_mib=128
    "$rounds_given" || rounds=1
fi
size=$((size_mib << 20))
file=seq.dat

targets=(raw1 raw8 raw16 bench8 bench16 mount ahead)
raw_targets=(raw1 raw8 raw16)
bench_targets=(bench8 bench16)
declare -A label=([raw1]="ninep-raw-read, 1 in flight" [raw8]="ninep-raw-read, 8 in flight"
    [raw16]="ninep-raw-read, 16 in flight" [bench8]="ninep-bench, 8 in flight"
    [bench16]="ninep-bench, 16 in flight" [mount]="mount cache=none, dd bs=1M"
    [ahead]="mount read-ahead $AHEAD_KB KiB")

# --- setup -----------------------------------------------------------------

install_missing diod:diod fuse3:fusermount3
diod_bin=$(bin diod)
# release_build asks cargo for the target directory: CARGO_TARGET_DIR
# is honoured.
build_ninep_mount
build_ninep_bench
release_build ninep-tests ninep-raw-read
raw_bin=$built_bin
release_build ninep-tests ninep-delay
delay_bin=$built_bin

make_export ninep-bench-seq-read $((size + (64 << 20)))
say "writing $size_mib MiB of random bytes to $export_dir/$file"
head -c "$size" /dev/urandom >"$export_dir/$file"
[ "$(stat -c %s "$export_dir/$file")" -eq "$size" ] || die "short file $export_dir/$file"
start_diod
if [ -n "$delay_us" ]; then
    # From here on every client dials the relay (diod_port is only dialled).
    "$delay_bin" --to "127.0.0.1:$diod_port" --delay-us "$delay_us" >"$work/delay.out" 2>&1 &
    delay_pid=$!
    cleanup_more() { kill "$delay_pid" 2>/dev/null || true; }
    for _ in $(seq 100); do
        grep -q '^listen=' "$work/delay.out" && break
        sleep 0.1
    done
    relay=$(sed -n 's/^listen=//p' "$work/delay.out")
    [ -n "$relay" ] || die "ninep-delay did not start: $(cat "$work/delay.out")"
    say "ninep-delay (pid $delay_pid) on $relay holds each reply $delay_us µs"
    diod_port=${relay##*:}
fi
mount_ninep none "$file"
# The read-ahead mount: try_mount_ninep names a mount by its cache mode.
mnt[ahead]=$work/m-ahead
mkdir "${mnt[ahead]}"
"$mount_bin" -f -o "aname=$export_dir,cache=none,direct_read_ahead_kb=$AHEAD_KB${NINEP_BENCH_OPTS:+,$NINEP_BENCH_OPTS}" \
    "127.0.0.1:$diod_port" "${mnt[ahead]}" >"$work/ninep-ahead.log" 2>&1 &
ninep_pid[ahead]=$!
wait_mounted "${mnt[ahead]}" "${ninep_pid[ahead]}" ||
    die "the read-ahead mount did not mount: $(tail -c 2000 "$work/ninep-ahead.log")"

# --- runs ------------------------------------------------------------------

# field KEY: the value of the last KEY=VALUE on stdin.
field() {
    awk -v k="$1=" '{ for (i = 1; i <= NF; i++) if (index($i, k) == 1) v = substr($i, length(k) + 1) }
        END { print v }'
}

# run TARGET: one read of the whole file; sets got (MiB/s). Each reader
# checks the byte count itself (dd's is checked here).
raw_info=""
run() {
    local t=$1 out=$work/run.out
    drop_caches
    case "$t" in
    raw*)
        "$raw_bin" --addr "127.0.0.1:$diod_port" --aname "$export_dir" --path "$file" \
            --depth "${t#raw}" >"$out" || die "ninep-raw-read --depth ${t#raw} failed"
        [ -n "$raw_info" ] || raw_info="msize $(field msize <"$out"), io_size $(field io_size <"$out")"
        got=$(field mib_s <"$out")
        ;;
    bench*)
        "$bench_bin" "127.0.0.1:$diod_port" --aname "$export_dir" --file "$file" \
            --depth "${t#bench}" --runs 1 >"$out" || die "ninep-bench --depth ${t#bench} failed"
        got=$(grep '^median ' "$out" | field mib_s)
        ;;
    mount | ahead)
        local m=${mnt[none]}
        [ "$t" = mount ] || m=${mnt[ahead]}
        # "N bytes (...) copied, SECS s, RATE"
        LC_ALL=C dd if="$m/$file" of=/dev/null bs=1M >"$out" 2>&1 ||
            die "dd through the mount failed: $(cat "$out")"
        got=$(awk -v want="$size" '/ copied, / {
            for (i = 1; i <= NF; i++) if ($i == "s,") secs = $(i - 1)
            if ($1 == want && secs > 0) printf "%.1f", $1 / secs / 1048576 }' "$out")
        ;;
    esac
    [[ "$got" =~ ^[0-9.]+$ ]] || die "no figure from $t: $(cat "$out")"
}

declare -A runs=()
for ((r = 0; r < rounds; r++)); do
    [ "$quiet_wait" -eq 0 ] || wait_quiet "$quiet_wait"
    round_order "$r"
    line=""
    for t in "${order[@]}"; do
        run "$t"
        runs[$t]+="$got "
        line+=" $t=$got"
    done
    say "round $((r + 1))/$rounds, MiB/s:$line; load $(cut -d' ' -f1-3 /proc/loadavg)"
done

# --- figures ---------------------------------------------------------------

declare -A med=()
for t in "${targets[@]}"; do med[$t]=$(median <<<"${runs[$t]}"); done
# best LIST...: the target of LIST with the highest median.
best() {
    local t b=$1
    for t in "$@"; do
        awk -v a="${med[$t]}" -v b="${med[$b]}" 'BEGIN { exit !(a > b) }' && b=$t
    done
    echo "$b"
}
raw_best=$(best "${raw_targets[@]}")
bench_best=$(best "${bench_targets[@]}")

echo
echo "sequential read of a $size_mib MiB file on tmpfs from diod" \
    "$(dpkg-query -W -f='${Version}' diod 2>/dev/null || echo ?) ($raw_info);" \
    "MiB/s, medians of $rounds rounds"
for t in "${targets[@]}"; do
    printf '  %-30s %9s   runs: %s\n' "${label[$t]}" "${med[$t]}" "${runs[$t]}"
done
echo "raw best: ${label[$raw_best]}"
echo "ratios to raw best (of the medians; [lowest-highest] round by round):"
for t in mount ahead "${bench_targets[@]}"; do
    printf '  %-30s %5s %s\n' "${label[$t]}" "$(ratio "${med[$t]}" "${med[$raw_best]}")" \
        "$(span "${runs[$t]}" "${runs[$raw_best]}")"
done
echo "ninep-bench best / raw best: $(ratio "${med[$bench_best]}" "${med[$raw_best]}") (${label[$bench_best]})"
echo "ahead / mount: $(ratio "${med[ahead]}" "${med[mount]}")"
[ -z "$delay_us" ] || echo "each reply held $delay_us µs by ninep-delay"
for t in mount ahead; do
    r=$(ratio "${med[$t]}" "${med[$raw_best]}")
    echo "$t / raw best: $r"
    echo "goal: $t >= ${GOAL}x raw best: $(awk -v r="$r" -v g="$GOAL" \
        'BEGIN { if (r !~ /^[0-9.]+$/) print "unknown (no ratio)"; else print (r + 0 >= g + 0) ? "met" : "missed" }')"
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg) (2 CPUs; other work makes the figures noisy)"
