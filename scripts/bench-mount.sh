#!/usr/bin/env bash
# Mount benchmark: the same workloads through ninep-mount
# (cache=none and cache=loose), through a FUSE ceiling (bindfs of the same
# folder) and through sshfs (to a throwaway sshd on 127.0.0.1), all on
# loopback, in the same run.
#
#   scripts/bench-mount.sh [--rounds N] [--quick] [--quiet-wait SECS] [--only LIST]
#
#   --rounds      rounds of alternating runs (every workload through every
#                 target once per round, the order of the targets rotating
#                 from round to round); medians over them; default 5
#   --quick       1 round, smaller sizes (128 MiB files, 1,000 files in the
#                 storm, 3 s fio runs): to try the script out, not to quote
#   --only        run only these workloads (comma-separated: seqread,
#                 seqwrite, storm, fio1, fio4), e.g. to compare the
#                 sequential figures quickly
#   --quiet-wait  before each round, wait up to SECS for the machine to be
#                 idle (< 0.1 CPUs busy for 2 s); default 30
#
# Workloads:
#   seq read    dd if=FILE of=/dev/null bs=1M, FILE 1 GiB      MB/s
#   seq write   dd if=/dev/zero of=FILE bs=1M count=1024
#               conv=fsync                                     MB/s
#   storm       10,000 empty files: create (touch via xargs), ls -l,
#               find -ls, stat of all, rm -r; total time       seconds
#   randread    fio 4 KiB random reads, psync, 256 MiB file,
#               10 s, 1 job and 4 jobs                         IOPS
# Page caches are dropped before every run (echo 3 > drop_caches).
#
# Needs root and a Debian machine; installs what is missing with apt-get
# (diod, fuse3, bindfs, sshfs, openssh-server, fio) and builds ninep-mount
# (release). It makes a tmpfs in a temporary directory, starts diod
# exporting it on a free port of 127.0.0.1, mounts it with ninep-mount twice
# (cache=none, cache=loose; in the foreground, as children of this script),
# mounts it with bindfs -o big_writes (without the option if bindfs rejects
# it), starts sshd -D on a free port of 127.0.0.1 with a generated host key
# and a generated root key, and mounts the folder with sshfs through it.
# Everything is undone on exit, also on failure or Ctrl-C.
#
# Prints one table of medians: each workload through each target, and the
# ratios ninep-mount / bindfs and ninep-mount / sshfs for both cache modes
# (for MB/s and IOPS higher is better, for the storm's seconds lower is
# better; the ratio is always ninep-mount's figure over the other's), then
# the resident memory of the ninep-mount processes during the 1 GiB read.
set -euo pipefail
# shellcheck source=lib/bench.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"

rounds=5
quiet_wait=30
bench_args "$@"

if "$quick"; then
    "$rounds_given" || rounds=1
    seq_mib=128
    storm_files=1000
    fio_mib=64
    fio_secs=3
else
    seq_mib=1024
    storm_files=10000
    fio_mib=256
    fio_secs=10
fi

# --- setup -----------------------------------------------------------------

install_missing "${bench_packages[@]}" fio:fio
find_bins
fio_bin=$(bin fio)
build_ninep_mount

targets=(none loose bindfs sshfs)
declare -A label=([none]="ninep cache=none" [loose]="ninep cache=loose"
    [bindfs]="bindfs (ceiling)" [sshfs]="sshfs")

sampler_pid=""
cleanup_more() {
    if [ -n "$sampler_pid" ]; then
        kill "$sampler_pid" 2>/dev/null || true
        wait "$sampler_pid" 2>/dev/null || true
    fi
}

# Room for the read file, the written one, fio's file and the storm.
make_export ninep-bench-mount "$(((2 * seq_mib + fio_mib + 256) << 20))"
say "writing the test files (random bytes) in $export_dir (tmpfs)"
head -c "$((seq_mib << 20))" /dev/urandom >"$export_dir/seq.dat"
head -c "$((fio_mib << 20))" /dev/urandom >"$export_dir/fio.dat"

start_diod
for t in none loose; do
    mount_ninep "$t" seq.dat
done
mount_bindfs
start_sshd
mount_sshfs seq.dat

# --- runs ------------------------------------------------------------------

# MB/s (10^6 bytes/s) from dd's last line: "N bytes (...) copied, SECS s, RATE".
dd_mbs() {
    awk '/bytes/ && /copied/ {
        for (i = 1; i <= NF; i++) if ($i == "s,") secs = $(i - 1)
        if (secs > 0) printf "%.1f\n", $1 / secs / 1e6
    }'
}

# Largest VmRSS (KiB) of pid $1 every 50 ms, written to $2 until killed.
sample_rss() {
    local max=0 r
    while r=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$1/status" 2>/dev/null); do
        if [ -n "$r" ] && [ "$r" -gt "$max" ]; then
            max=$r
            echo "$max" >"$2"
        fi
        sleep 0.05
    done
}

run_seqread() {
    local t=$1 out
    if [ -n "${ninep_pid[$t]:-}" ]; then
        echo 0 >"$work/rss.$t"
        sample_rss "${ninep_pid[$t]}" "$work/rss.$t" &
        sampler_pid=$!
    fi
    out=$(LC_ALL=C dd if="${mnt[$t]}/seq.dat" of=/dev/null bs=1M 2>&1) ||
        die "dd read through $t failed: $out"
    if [ -n "$sampler_pid" ]; then
        kill "$sampler_pid" 2>/dev/null || true
        wait "$sampler_pid" 2>/dev/null || true
        sampler_pid=""
        # this runs in $(...): keep the figure in a file for the table
        cat "$work/rss.$t" >>"$work/rss-all.$t"
    fi
    dd_mbs <<<"$out"
}

run_seqwrite() {
    local t=$1 out f=${mnt[$1]}/write-$1.dat
    out=$(LC_ALL=C dd if=/dev/zero of="$f" bs=1M count="$seq_mib" conv=fsync 2>&1) ||
        die "dd write through $t failed: $out"
    rm -f "$f"
    dd_mbs <<<"$out"
}

# Seconds for the whole storm.
run_storm() {
    local t=$1 d=${mnt[$1]}/storm-$1 t0 t1
    t0=$EPOCHREALTIME
    mkdir "$d"
    seq -f "$d/f%05g" "$storm_files" | xargs touch
    ls -l "$d" >/dev/null
    find "$d" -ls >/dev/null
    find "$d" -type f -print0 | xargs -0 stat >/dev/null
    rm -r "$d"
    t1=$EPOCHREALTIME
    [ "$(find "${mnt[$t]}" -maxdepth 1 -name "storm-$t" | wc -l)" -eq 0 ] ||
        die "storm folder still there through $t"
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }'
}

# IOPS of fio 4 KiB random reads with $2 jobs.
run_fio() {
    local t=$1 out
    out=$("$fio_bin" --name=r --rw=randread --bs=4k --size="${fio_mib}m" \
        --runtime="$fio_secs" --time_based --ioengine=psync --numjobs="$2" \
        --group_reporting --direct=0 --filename="${mnt[$t]}/fio.dat" \
        --minimal 2>&1) || die "fio through $t failed: $out"
    # terse format: field 8 is the read IOPS
    awk -F';' 'NF > 8 { printf "%.0f\n", $8; exit }' <<<"$out"
}

workloads=(seqread seqwrite storm fio1 fio4)
if [ -n "$only" ]; then
    pick_list --only workload "$only" "${workloads[@]}"
    workloads=("${picked[@]}")
fi
declare -A wl_label=([seqread]="seq read ${seq_mib} MiB"
    [seqwrite]="seq write ${seq_mib} MiB" [storm]="storm ${storm_files} files"
    [fio1]="4k randread 1 job" [fio4]="4k randread 4 jobs")
declare -A wl_unit=([seqread]="MB/s" [seqwrite]="MB/s" [storm]="s"
    [fio1]="IOPS" [fio4]="IOPS")

run_one() {
    case "$1" in
    seqread) run_seqread "$2" ;;
    seqwrite) run_seqwrite "$2" ;;
    storm) run_storm "$2" ;;
    fio1) run_fio "$2" 1 ;;
    fio4) run_fio "$2" 4 ;;
    esac
}

declare -A runs=() # "workload target" -> values, space-separated
for ((r = 0; r < rounds; r++)); do
    [ "$quiet_wait" -eq 0 ] || wait_quiet "$quiet_wait"
    round_order "$r" # the order of the targets rotates from round to round
    for w in "${workloads[@]}"; do
        line=""
        for t in "${order[@]}"; do
            drop_caches
            v=$(run_one "$w" "$t")
            [ -n "$v" ] || die "no figure from $w through $t"
            runs["$w $t"]+="$v "
            line+=" $t=$v"
        done
        say "round $((r + 1))/$rounds: ${wl_label[$w]} (${wl_unit[$w]}):$line"
    done
done

# --- table -----------------------------------------------------------------

echo
echo "$(versions)" "tmpfs on loopback; medians of $rounds round(s)"
fmt='%-22s %-5s %9s %9s %9s %9s | %8s %8s %8s %8s\n'
# shellcheck disable=SC2059 # the format is ours
printf "$fmt" "workload" "unit" "9p none" "9p loose" "bindfs" "sshfs" \
    "none/bnd" "loose/bnd" "none/ssh" "loose/ssh"
for w in "${workloads[@]}"; do
    declare -A med=()
    for t in "${targets[@]}"; do med[$t]=$(median <<<"${runs["$w $t"]}"); done
    # shellcheck disable=SC2059
    printf "$fmt" "${wl_label[$w]}" "${wl_unit[$w]}" \
        "$(short "${med[none]}")" "$(short "${med[loose]}")" \
        "$(short "${med[bindfs]}")" "$(short "${med[sshfs]}")" \
        "$(ratio "${med[none]}" "${med[bindfs]}")" "$(ratio "${med[loose]}" "${med[bindfs]}")" \
        "$(ratio "${med[none]}" "${med[sshfs]}")" "$(ratio "${med[loose]}" "${med[sshfs]}")"
done
echo "(ratios: ninep-mount's figure / the other's; MB/s and IOPS higher is better, storm seconds lower is better)"

# The performance goals, from the medians above; after each ratio, in
# brackets, the lowest and highest of the same ratio taken round by round
# (the runs of one round are minutes apart, so this shows how far the
# machine's drift moves the figure).
echo
echo "goals (ratio of medians [per-round lowest-highest])$("$quick" &&
    echo "; --quick: smaller workloads than the goals'"):"
for t in none loose; do
    goal seqread "$t" bindfs ">=" 0.5
    goal seqread "$t" sshfs ">=" 5
done
for t in none loose; do
    goal seqwrite "$t" bindfs ">=" 0.6
    goal seqwrite "$t" sshfs ">=" 2.5
done
goal storm loose bindfs "<=" 1.0
goal storm loose sshfs "<=" 0.6
goal storm none sshfs "<=" 1.0
for t in none loose; do
    goal fio1 "$t" sshfs ">=" 2
    goal fio4 "$t" sshfs ">=" 3
done
for t in none loose; do
    [ -f "$work/rss-all.$t" ] || continue # no seq read (--only)
    rss=$(sort -n "$work/rss-all.$t" | tail -n 1)
    hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/${ninep_pid[$t]}/status" 2>/dev/null || echo "?")
    [ -n "$rss" ] || continue
    mib=$(((rss + 1023) / 1024))
    echo "ninep-mount cache=$t: peak VmRSS during the ${seq_mib} MiB read $mib MiB" \
        "(sampled every 50 ms, largest of all rounds; goal <= 64 MiB:" \
        "$([ "$mib" -le 64 ] && echo met || echo missed)); VmHWM at the end ${hwm} KiB"
done
echo
print_runs
