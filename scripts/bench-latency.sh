#!/usr/bin/env bash
# The time of one FUSE request that the mount answers from memory, by hand
# (not CI; it measures what busy polling and FUSE over io_uring save, see
# docs/performance.md):
#
#   scripts/bench-latency.sh [ROUNDS] [N]      defaults 5 and 20000
#
# diod exports a tmpfs; mounts of it run side by side: ninep-mount
# cache=loose through /dev/fuse (`nouring`) with busy_poll=0 (one thread
# per core, sleeps at once) and with the default busy_poll, the same two
# through FUSE over io_uring, and bindfs (libfuse, the FUSE ceiling). In
# each, a directory is made and listed (so ninep-mount knows all its
# names), then `stat` is run on N names that do not exist: each is one
# FUSE LOOKUP, which ninep-mount answers without a round trip to the
# server and bindfs with one lstat of the tmpfs. Each round runs them in
# turn (the order reversed every other round) and the script prints the
# median microseconds per name and the ratios. Needs root; installs diod,
# fuse3 and bindfs if missing. The io_uring mounts need Linux 6.14 or
# later: the script turns the fuse module's enable_uring on for them and
# puts it back as it was; where there is no such parameter they are left
# out.
set -euo pipefail
# shellcheck source=lib/bench.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"

case "${1:-}" in -h | --help) usage; exit 0 ;; esac
rounds=${1:-5}
n=${2:-20000}
[[ "$rounds" =~ ^[1-9][0-9]*$ && "$n" =~ ^[1-9][0-9]*$ ]] || die "usage: $0 [ROUNDS] [N]"
[ "$(id -u)" = 0 ] || die "run as root (mounts, drop_caches)"

install_missing diod:diod fuse3:fusermount3 bindfs:bindfs
diod_bin=$(bin diod)
build_ninep_mount

uring_param=/sys/module/fuse/parameters/enable_uring
uring_was=""
targets=(nopoll poll bindfs)
if [ -w "$uring_param" ]; then
    uring_was=$(cat "$uring_param")
    targets=(nopoll poll uring_nopoll uring bindfs)
fi
declare -A label=([nopoll]="ninep busy_poll=0" [poll]="ninep busy_poll (default)"
    [uring_nopoll]="ninep io_uring busy_poll=0" [uring]="ninep io_uring busy_poll"
    [bindfs]="bindfs")
declare -A pids=()
work=$(mktemp -d /tmp/ninep-bench-latency.XXXXXX)
diod_pid=""
cleanup() {
    local rc=$? t
    for t in "${targets[@]}"; do
        mountpoint -q "$work/m-$t" 2>/dev/null &&
            { umount "$work/m-$t" 2>/dev/null || umount -l "$work/m-$t"; }
    done
    for t in "${!pids[@]}"; do wait "${pids[$t]}" 2>/dev/null || true; done
    [ -n "$diod_pid" ] && { kill "$diod_pid" 2>/dev/null || true; wait "$diod_pid" 2>/dev/null || true; }
    mountpoint -q "$work/export" && umount "$work/export"
    [ -n "$uring_was" ] && echo "$uring_was" >"$uring_param"
    rm -rf --one-file-system "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir "$work/export"
mount -t tmpfs tmpfs "$work/export"
port=""
for p in $(shuf -i 20000-60000 -n 20); do
    [ -z "$(ss -Htln "sport = :$p")" ] && { port=$p; break; }
done
[ -n "$port" ] || die "no free port"
"$diod_bin" -f -n -l "127.0.0.1:$port" -e "$work/export" -L "$work/diod.log" &
diod_pid=$!
for t in "${targets[@]}"; do mkdir "$work/m-$t"; done
for _ in $(seq 50); do [ -n "$(ss -Htln "sport = :$port")" ] && break; sleep 0.1; done
[ -n "$uring_was" ] && echo Y >"$uring_param"
for t in "${targets[@]}"; do
    opt=cache=loose
    case $t in
    bindfs) continue ;;
    nopoll) opt=$opt,busy_poll=0,nouring ;;
    poll) opt=$opt,nouring ;;
    uring_nopoll) opt=$opt,busy_poll=0 ;;
    esac
    "$mount_bin" "127.0.0.1:$port" "$work/m-$t" -o "aname=$work/export,$opt" -f \
        2>"$work/$t.log" &
    pids[$t]=$!
done
bindfs "$work/export" "$work/m-bindfs"
for t in "${targets[@]}"; do
    for _ in $(seq 50); do mountpoint -q "$work/m-$t" && break; sleep 0.1; done
    mountpoint -q "$work/m-$t" || die "${label[$t]} did not mount"
done
for t in uring_nopoll uring; do
    [ -n "${pids[$t]:-}" ] || continue
    "$mount_bin" stats "$work/m-$t" | grep -q "FUSE over io_uring" ||
        die "${label[$t]}: the kernel did not take io_uring"
done

# One run: N lookups of missing names in a fresh, listed directory.
run() {
    local d=$work/m-$1/d$2 t0 t1
    mkdir "$d"
    ls "$d" >/dev/null
    t0=$EPOCHREALTIME
    seq -f "$d/x%g" "$n" | xargs stat >/dev/null 2>&1 || true
    t1=$EPOCHREALTIME
    rmdir "$d"
    awk -v a="$t0" -v b="$t1" -v n="$n" 'BEGIN { printf "%.1f", (b - a) * 1e6 / n }'
}

declare -A runs=()
for r in $(seq "$rounds"); do
    order=("${targets[@]}")
    if [ $((r % 2)) = 0 ]; then
        order=()
        for ((i = ${#targets[@]} - 1; i >= 0; i--)); do order+=("${targets[$i]}"); done
    fi
    line=""
    for t in "${order[@]}"; do
        v=$(run "$t" "$r")
        runs[$t]+="$v "
        line+=" $t=$v"
    done
    say "round $r/$rounds: µs per lookup:$line"
done

median() { tr ' ' '\n' | sed '/^$/d' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
declare -A med=()
for t in "${targets[@]}"; do med[$t]=$(echo "${runs[$t]}" | median); done
printf '%s lookups of missing names, medians of %s rounds (µs per lookup, lower is better)\n' "$n" "$rounds"
for t in "${targets[@]}"; do printf '  %-26s %8s   runs: %s\n' "${label[$t]}" "${med[$t]}" "${runs[$t]}"; done
awk -v a="${med[poll]}" -v b="${med[nopoll]}" -v c="${med[bindfs]}" \
    'BEGIN { printf "ratios: busy_poll/busy_poll=0 %.2f   busy_poll/bindfs %.2f   busy_poll=0/bindfs %.2f\n", a/b, a/c, b/c }'
if [ -n "$uring_was" ]; then
    awk -v u="${med[uring]}" -v p="${med[poll]}" -v un="${med[uring_nopoll]}" -v n="${med[nopoll]}" \
        -v c="${med[bindfs]}" 'BEGIN {
        printf "io_uring/dev_fuse: busy_poll %.2f   busy_poll=0 %.2f   io_uring busy_poll/bindfs %.2f\n", u/p, un/n, u/c
        printf "goal io_uring <= 0.6x /dev/fuse (busy_poll, the default): %s\n", (u/p <= 0.6 ? "met" : "missed")
    }'
fi
