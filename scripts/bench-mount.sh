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
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rounds=5
quick=false
quiet_wait=30

say() { printf '==> %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

rounds_given=false
only=""
while [ $# -gt 0 ]; do
    case "$1" in
    --rounds) rounds=${2:?--rounds needs a value}; rounds_given=true; shift 2 ;;
    --quick) quick=true; shift ;;
    --quiet-wait) quiet_wait=${2:?--quiet-wait needs a value}; shift 2 ;;
    --only) only=${2:?--only needs a list}; shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
    esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "bad --rounds: $rounds"
[[ "$quiet_wait" =~ ^[0-9]+$ ]] || die "bad --quiet-wait: $quiet_wait"
[ "$(id -u)" -eq 0 ] || die "needs root (mounts, sshd, drop_caches)"

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

# package:command pairs; a package is installed when its command is missing.
missing=()
for pc in diod:diod fuse3:fusermount3 bindfs:bindfs sshfs:sshfs \
    openssh-server:sshd openssh-client:ssh-keygen fio:fio; do
    cmd=${pc#*:}
    command -v "$cmd" >/dev/null || [ -x "/usr/sbin/$cmd" ] || missing+=("${pc%%:*}")
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2
fi
bin() { command -v "$1" || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; } || die "no $1"; }
diod_bin=$(bin diod)
sshd_bin=$(bin sshd)
bindfs_bin=$(bin bindfs)
sshfs_bin=$(bin sshfs)
fio_bin=$(bin fio)

say "cargo build --release -p ninep-mount"
cargo build --release -p ninep-mount >&2
target_dir=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
mount_bin=${target_dir:-target}/release/ninep-mount
[ -x "$mount_bin" ] || die "no $mount_bin after the build"

targets=(none loose bindfs sshfs)
declare -A label=([none]="ninep cache=none" [loose]="ninep cache=loose"
    [bindfs]="bindfs (ceiling)" [sshfs]="sshfs")

work=""
tmpfs_mounted=false
diod_pid=""
sshd_pid=""
sampler_pid=""
declare -A ninep_pid=() mnt=()
cleanup() {
    local rc=$? t
    trap - INT TERM
    if [ -n "$sampler_pid" ]; then
        kill "$sampler_pid" 2>/dev/null || true
        wait "$sampler_pid" 2>/dev/null || true
    fi
    for t in "${targets[@]}"; do
        [ -n "${mnt[$t]:-}" ] || continue
        if mountpoint -q "${mnt[$t]}"; then
            fusermount3 -u "${mnt[$t]}" 2>/dev/null || umount "${mnt[$t]}" 2>/dev/null ||
                umount -l "${mnt[$t]}" || say "warning: could not unmount ${mnt[$t]}"
        fi
    done
    for t in "${!ninep_pid[@]}"; do
        kill "${ninep_pid[$t]}" 2>/dev/null || true
        wait "${ninep_pid[$t]}" 2>/dev/null || true
    done
    for p in "$sshd_pid" "$diod_pid"; do
        [ -n "$p" ] || continue
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if "$tmpfs_mounted"; then
        umount "$work/export" || umount -l "$work/export" ||
            say "warning: could not unmount $work/export"
    fi
    if [ -n "$work" ]; then
        # Only what we made: never cross into a mount that would not go.
        rm -rf --one-file-system "$work"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

work=$(mktemp -d /tmp/ninep-bench-mount.XXXXXX)
export_dir=$work/export
mkdir "$export_dir"
# Room for the read file, the written one, fio's file and the storm.
mount -t tmpfs -o "size=$(((2 * seq_mib + fio_mib + 256) << 20))" tmpfs "$export_dir"
tmpfs_mounted=true
say "writing the test files (random bytes) in $export_dir (tmpfs)"
head -c "$((seq_mib << 20))" /dev/urandom >"$export_dir/seq.dat"
head -c "$((fio_mib << 20))" /dev/urandom >"$export_dir/fio.dat"

port_free() { [ -z "$(ss -Htln "sport = :$1")" ]; }
listening() { [ -n "$(ss -Htln "sport = :$1")" ]; }

# Starts "$@" (with @PORT@ in it replaced by a free port) in the background
# until it listens; sets started_pid and started_port.
start_on_free_port() {
    local log=$1 p _attempt _ args a
    shift
    started_pid=""
    started_port=""
    for _attempt in 1 2 3 4 5; do
        p=$((20000 + RANDOM % 30000))
        port_free "$p" || continue
        args=()
        for a in "$@"; do args+=("${a//@PORT@/$p}"); done
        "${args[@]}" >>"$log" 2>&1 &
        started_pid=$!
        for _ in $(seq 100); do
            listening "$p" && break
            kill -0 "$started_pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$started_pid" 2>/dev/null && listening "$p"; then
            started_port=$p
            return 0
        fi
        kill "$started_pid" 2>/dev/null || true
        wait "$started_pid" 2>/dev/null || true
        started_pid=""
    done
    return 1
}

start_on_free_port "$work/diod.out" "$diod_bin" -f -n -c /dev/null \
    -l "127.0.0.1:@PORT@" -e "$export_dir" -L "$work/diod.log" ||
    die "diod did not start: $(tail -c 2000 "$work/diod.log" "$work/diod.out" 2>/dev/null)"
diod_pid=$started_pid
diod_port=$started_port
say "diod (pid $diod_pid) exports $export_dir on 127.0.0.1:$diod_port"

# waits up to 10 s for $1 to be a mount point; $2: pid that must stay alive
wait_mounted() {
    local _
    for _ in $(seq 100); do
        mountpoint -q "$1" && return 0
        [ -z "${2:-}" ] || kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

for t in none loose; do
    mnt[$t]=$work/m-$t
    mkdir "${mnt[$t]}"
    "$mount_bin" -f -o "aname=$export_dir,cache=$t" "127.0.0.1:$diod_port" \
        "${mnt[$t]}" >"$work/ninep-$t.log" 2>&1 &
    ninep_pid[$t]=$!
    wait_mounted "${mnt[$t]}" "${ninep_pid[$t]}" ||
        die "ninep-mount cache=$t did not mount: $(tail -c 2000 "$work/ninep-$t.log")"
    [ -f "${mnt[$t]}/seq.dat" ] || die "no seq.dat through ninep-mount cache=$t"
    say "ninep-mount cache=$t (pid ${ninep_pid[$t]}) on ${mnt[$t]}"
done

mnt[bindfs]=$work/m-bindfs
mkdir "${mnt[bindfs]}"
bindfs_opts="-o big_writes"
if ! "$bindfs_bin" -o big_writes "$export_dir" "${mnt[bindfs]}" 2>"$work/bindfs.log"; then
    say "bindfs rejects -o big_writes ($(head -c 300 "$work/bindfs.log")); without it"
    bindfs_opts="(no options)"
    "$bindfs_bin" "$export_dir" "${mnt[bindfs]}" 2>>"$work/bindfs.log" ||
        die "bindfs failed: $(tail -c 2000 "$work/bindfs.log")"
fi
wait_mounted "${mnt[bindfs]}" || die "bindfs did not mount"
say "bindfs $bindfs_opts on ${mnt[bindfs]}"

ssh_dir=$work/ssh
mkdir -m 700 "$ssh_dir"
ssh-keygen -q -t ed25519 -N '' -C ninep-bench-host -f "$ssh_dir/host_key"
ssh-keygen -q -t ed25519 -N '' -C ninep-bench-client -f "$ssh_dir/id"
cp "$ssh_dir/id.pub" "$ssh_dir/authorized_keys"
cat >"$ssh_dir/sshd_config" <<EOF
ListenAddress 127.0.0.1:0
HostKey $ssh_dir/host_key
AuthorizedKeysFile $ssh_dir/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
Subsystem sftp internal-sftp
EOF
mkdir -p /run/sshd # privilege separation directory, as the Debian unit makes
# shellcheck disable=SC2016 # expanded by that sh
start_on_free_port "$work/sshd.log" sh -c \
    'sed "s/^ListenAddress .*/ListenAddress 127.0.0.1:$1/" "$2" >"$2.run" &&
        exec "$3" -f "$2.run" -D -e' \
    sh @PORT@ "$ssh_dir/sshd_config" "$sshd_bin" ||
    die "sshd did not start: $(tail -c 2000 "$work/sshd.log")"
sshd_pid=$started_pid
sshd_port=$started_port
say "sshd (pid $sshd_pid) on 127.0.0.1:$sshd_port"

mnt[sshfs]=$work/m-sshfs
mkdir "${mnt[sshfs]}"
"$sshfs_bin" -p "$sshd_port" -o "IdentityFile=$ssh_dir/id,BatchMode=yes" \
    -o "StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,LogLevel=ERROR" \
    "root@127.0.0.1:$export_dir" "${mnt[sshfs]}" 2>"$work/sshfs.log" ||
    die "sshfs failed: $(tail -c 2000 "$work/sshfs.log" "$work/sshd.log")"
wait_mounted "${mnt[sshfs]}" || die "sshfs did not mount"
[ -f "${mnt[sshfs]}/seq.dat" ] || die "no seq.dat through sshfs"
say "sshfs on ${mnt[sshfs]}"

# --- runs ------------------------------------------------------------------

drop_caches() {
    sync
    echo 3 >/proc/sys/vm/drop_caches
}

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
    IFS=, read -r -a workloads <<<"$only"
    for w in "${workloads[@]}"; do
        [[ " seqread seqwrite storm fio1 fio4 " == *" $w "* ]] || die "unknown workload in --only: $w"
    done
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

wait_quiet() {
    local until=$((SECONDS + $1)) a b
    while [ "$SECONDS" -lt "$until" ]; do
        a=$(awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat)
        sleep 2
        b=$(awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat)
        awk -v a="$a" -v b="$b" -v hz="$(getconf CLK_TCK)" \
            'BEGIN { exit !((b - a) / hz / 2 < 0.1) }' && return 0
    done
    say "the machine stayed busy for $1 s; going on"
}

declare -A runs=() # "workload target" -> values, space-separated
for ((r = 0; r < rounds; r++)); do
    [ "$quiet_wait" -eq 0 ] || wait_quiet "$quiet_wait"
    # rotate the order of the targets from round to round
    order=()
    for ((i = 0; i < ${#targets[@]}; i++)); do
        order+=("${targets[(i + r) % ${#targets[@]}]}")
    done
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

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 }
    END { if (NR % 2) printf "%.2f", v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
short() { awk -v v="$1" 'BEGIN { if (v >= 100) printf "%.0f", v; else printf "%.2f", v }'; }

echo
echo "$("$mount_bin" --version 2>/dev/null | head -n 1 || echo ninep-mount)," \
    "diod $(dpkg-query -W -f='${Version}' diod 2>/dev/null || echo ?)," \
    "bindfs $(dpkg-query -W -f='${Version}' bindfs 2>/dev/null || echo ?) $bindfs_opts," \
    "sshfs $(dpkg-query -W -f='${Version}' sshfs 2>/dev/null || echo ?);" \
    "tmpfs on loopback; medians of $rounds round(s)"
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
span() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        n = split(a, x, " "); split(b, y, " ")
        for (i = 1; i <= n; i++) if (y[i] > 0) {
            r = x[i] / y[i]
            if (lo == "" || r < lo) lo = r
            if (hi == "" || r > hi) hi = r
        }
        printf "[%.2f-%.2f]", lo, hi
    }'
}
# goal WORKLOAD TARGET OTHER OP BOUND: one line, "met" or "missed".
goal() {
    local w=$1 t=$2 o=$3 op=$4 bound=$5 a b r ok
    [ -n "${runs["$w $t"]:-}" ] || return 0
    a=$(median <<<"${runs["$w $t"]}")
    b=$(median <<<"${runs["$w $o"]}")
    r=$(ratio "$a" "$b")
    # A ratio that could not be computed (n/a) is neither met nor missed;
    # awk would compare it as text.
    ok=$(awk -v r="$r" -v b="$bound" -v op="$op" \
        'BEGIN { if (r !~ /^[0-9.]+$/) print "unknown (no ratio)";
                 else print ((op == ">=" ? r + 0 >= b + 0 : r + 0 <= b + 0) ? "met" : "missed") }')
    printf '  %-22s %-6s / %-7s %s %-4s %5s %-13s %s\n' "${wl_label[$w]}" "$t" "$o" \
        "$op" "$bound" "$r" "$(span "${runs["$w $t"]}" "${runs["$w $o"]}")" "$ok"
}
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
    rss=$(sort -n "$work/rss-all.$t" 2>/dev/null | tail -n 1)
    hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/${ninep_pid[$t]}/status" 2>/dev/null || echo "?")
    [ -n "$rss" ] || continue
    mib=$(((rss + 1023) / 1024))
    echo "ninep-mount cache=$t: peak VmRSS during the ${seq_mib} MiB read $mib MiB" \
        "(sampled every 50 ms, largest of all rounds; goal <= 64 MiB:" \
        "$([ "$mib" -le 64 ] && echo met || echo missed)); VmHWM at the end ${hwm} KiB"
done
echo
echo "runs (in round order):"
for w in "${workloads[@]}"; do
    for t in "${targets[@]}"; do
        printf '  %-22s %-18s %s\n' "${wl_label[$w]}" "${label[$t]}" "${runs["$w $t"]}"
    done
done
