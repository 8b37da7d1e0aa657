# shellcheck shell=bash disable=SC2034,SC2154 # the scripts' variables
# What the mount benchmarks (scripts/bench-mount.sh, scripts/bench-work.sh)
# share; sourced by them, not run:
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib/bench.sh"
#
# right after the script's `set -euo pipefail`, which ends its usage comment
# (printed by --help). Sourcing it goes to the top of the repository.
#
# The setup: bench_args (the options), install_missing, build_ninep_mount,
# build_ninep_bench (also used by bench-client.sh), make_export (a tmpfs in a temporary folder), start_diod, mount_ninep /
# try_mount_ninep, mount_bindfs, start_sshd, mount_sshfs; everything they
# start or mount is undone on exit (cleanup), also on failure or Ctrl-C.
# The runs: drop_caches, wait_quiet, round_order. The figures: median,
# ratio, short, span, goal, print_runs, versions.
#
# NINEP_BENCH_OPTS (environment): more -o options for every ninep-mount
# mounted here, e.g. NINEP_BENCH_OPTS=uring.
#
# The scripts and this file share these variables: mnt[TARGET] (mount
# points), ninep_pid[MODE], work, export_dir, mount_bin, diod_port,
# sshd_port, bindfs_opts, runs["WORKLOAD TARGET"] (figures, space-separated,
# round by round), workloads, targets, label[TARGET], wl_label[WORKLOAD].
# A script can define cleanup_more, run first on exit.

bench_script=$(realpath "${BASH_SOURCE[1]}")
cd "$(dirname "$bench_script")/.." || exit

say() { printf '==> %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}

usage() {
    sed -n '2,/^set -euo/p' "$bench_script" | sed '$d' | sed 's/^# \{0,1\}//'
}

# --- options ---------------------------------------------------------------

# Parses --rounds N, --quick, --quiet-wait SECS, --only LIST, -h/--help, and
# --targets LIST when bench_takes_targets=true; checks them and that we are
# root. Defaults: the caller's rounds and quiet_wait. Sets rounds, quick,
# quiet_wait, rounds_given, only, targets_only.
bench_args() {
    quick=false
    rounds_given=false
    only=""
    targets_only=""
    while [ $# -gt 0 ]; do
        case "$1" in
        --rounds) rounds=${2:?--rounds needs a value}; rounds_given=true; shift 2 ;;
        --quick) quick=true; shift ;;
        --quiet-wait) quiet_wait=${2:?--quiet-wait needs a value}; shift 2 ;;
        --only) only=${2:?--only needs a list}; shift 2 ;;
        --targets)
            "${bench_takes_targets:-false}" || { usage >&2; die "unknown argument: $1"; }
            targets_only=${2:?--targets needs a list}
            shift 2
            ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
        esac
    done
    [[ "$rounds" =~ ^[1-9][0-9]*$ ]] || die "bad --rounds: $rounds"
    [[ "$quiet_wait" =~ ^[0-9]+$ ]] || die "bad --quiet-wait: $quiet_wait"
    [ "$(id -u)" -eq 0 ] || die "needs root (mounts, sshd, drop_caches)"
}

# pick_list OPTION KIND LIST ALLOWED...: LIST (comma-separated) into the
# array picked, each checked against ALLOWED; dies naming KIND and OPTION.
pick_list() {
    local opt=$1 kind=$2 list=$3 w
    shift 3
    IFS=, read -r -a picked <<<"$list"
    for w in "${picked[@]}"; do
        [[ " $* " == *" $w "* ]] || die "unknown $kind in $opt: $w"
    done
}

# --- setup -----------------------------------------------------------------

# install_missing PACKAGE:COMMAND...: installs with apt-get the packages
# whose command is missing.
install_missing() {
    local missing=() pc cmd
    for pc in "$@"; do
        cmd=${pc#*:}
        command -v "$cmd" >/dev/null || [ -x "/usr/sbin/$cmd" ] || missing+=("${pc%%:*}")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        say "installing ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get update >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" >&2
    fi
}
# The packages every script needs (as install_missing takes them).
bench_packages=(diod:diod fuse3:fusermount3 bindfs:bindfs sshfs:sshfs
    openssh-server:sshd openssh-client:ssh-keygen)

bin() { command -v "$1" || { [ -x "/usr/sbin/$1" ] && echo "/usr/sbin/$1"; } || die "no $1"; }

# Sets diod_bin, sshd_bin, bindfs_bin, sshfs_bin (after install_missing).
find_bins() {
    diod_bin=$(bin diod)
    sshd_bin=$(bin sshd)
    bindfs_bin=$(bin bindfs)
    sshfs_bin=$(bin sshfs)
}

# release_build PACKAGE BIN: builds BIN of PACKAGE (release); sets built_bin
# to its path.
release_build() {
    local target_dir
    say "cargo build --release -p $1 --bin $2"
    cargo build --release -p "$1" --bin "$2" >&2
    target_dir=$(cargo metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
    built_bin=${target_dir:-target}/release/$2
    [ -x "$built_bin" ] || die "no $built_bin after the build"
}

# Builds ninep-mount (release); sets mount_bin.
build_ninep_mount() {
    release_build ninep-mount ninep-mount
    mount_bin=$built_bin
}

# Builds ninep-bench, the client alone (release); sets bench_bin.
build_ninep_bench() {
    release_build ninep-tests ninep-bench
    bench_bin=$built_bin
}

work=""
tmpfs_mounted=false
diod_pid=""
sshd_pid=""
declare -A ninep_pid=() mnt=()
cleanup() {
    local rc=$? t p
    trap - INT TERM
    if declare -F cleanup_more >/dev/null; then cleanup_more; fi
    for t in "${!mnt[@]}"; do
        [ -n "${mnt[$t]}" ] || continue
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

# make_export NAME BYTES: a temporary folder /tmp/NAME.XXXXXX (work) with a
# tmpfs of BYTES in it (export_dir), for diod to export.
make_export() {
    work=$(mktemp -d "/tmp/$1.XXXXXX")
    export_dir=$work/export
    mkdir "$export_dir"
    mount -t tmpfs -o "size=$2" tmpfs "$export_dir"
    tmpfs_mounted=true
}

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

# diod exporting export_dir on a free port of 127.0.0.1: diod_pid, diod_port.
start_diod() {
    start_on_free_port "$work/diod.out" "$diod_bin" -f -n -c /dev/null \
        -l "127.0.0.1:@PORT@" -e "$export_dir" -L "$work/diod.log" ||
        die "diod did not start: $(tail -c 2000 "$work/diod.log" "$work/diod.out" 2>/dev/null)"
    diod_pid=$started_pid
    diod_port=$started_port
    say "diod (pid $diod_pid) exports $export_dir on 127.0.0.1:$diod_port"
}

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

# try_mount_ninep MODE [FILE]: ninep-mount -f -o cache=MODE of the export on
# mnt[MODE] (work/m-MODE), in the background (ninep_pid[MODE], its output in
# work/ninep-MODE.log); dies when FILE (relative) is not seen through it.
# Returns 1, with nothing left behind, when it does not mount.
try_mount_ninep() {
    local t=$1 probe=${2:-}
    mnt[$t]=$work/m-$t
    mkdir "${mnt[$t]}"
    "$mount_bin" -f -o "aname=$export_dir,cache=$t${NINEP_BENCH_OPTS:+,$NINEP_BENCH_OPTS}" \
        "127.0.0.1:$diod_port" \
        "${mnt[$t]}" >"$work/ninep-$t.log" 2>&1 &
    ninep_pid[$t]=$!
    if ! wait_mounted "${mnt[$t]}" "${ninep_pid[$t]}"; then
        kill "${ninep_pid[$t]}" 2>/dev/null || true
        wait "${ninep_pid[$t]}" 2>/dev/null || true
        unset "ninep_pid[$t]"
        if ! mountpoint -q "${mnt[$t]}"; then
            rmdir "${mnt[$t]}"
            unset "mnt[$t]"
        fi
        return 1
    fi
    [ -z "$probe" ] || [ -e "${mnt[$t]}/$probe" ] ||
        die "no $probe through ninep-mount cache=$t"
    say "ninep-mount cache=$t (pid ${ninep_pid[$t]}) on ${mnt[$t]}"
}

# mount_ninep MODE [FILE]: try_mount_ninep or die.
mount_ninep() {
    try_mount_ninep "$@" ||
        die "ninep-mount cache=$1 did not mount: $(tail -c 2000 "$work/ninep-$1.log")"
}

# bindfs of the export on mnt[bindfs], -o big_writes unless bindfs rejects
# it; bindfs_opts says which.
mount_bindfs() {
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
}

# sshd -D on a free port of 127.0.0.1 (sshd_pid, sshd_port), with a
# generated host key and a generated root key (work/ssh/id).
start_sshd() {
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
}

# mount_sshfs [FILE]: sshfs of the export through that sshd on mnt[sshfs];
# dies when FILE (relative) is not seen through it.
mount_sshfs() {
    local probe=${1:-}
    mnt[sshfs]=$work/m-sshfs
    mkdir "${mnt[sshfs]}"
    "$sshfs_bin" -p "$sshd_port" -o "IdentityFile=$ssh_dir/id,BatchMode=yes" \
        -o "StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,LogLevel=ERROR" \
        "root@127.0.0.1:$export_dir" "${mnt[sshfs]}" 2>"$work/sshfs.log" ||
        die "sshfs failed: $(tail -c 2000 "$work/sshfs.log" "$work/sshd.log")"
    wait_mounted "${mnt[sshfs]}" || die "sshfs did not mount"
    [ -z "$probe" ] || [ -e "${mnt[sshfs]}/$probe" ] || die "no $probe through sshfs"
    say "sshfs on ${mnt[sshfs]}"
}

# --- runs ------------------------------------------------------------------

drop_caches() {
    sync
    echo 3 >/proc/sys/vm/drop_caches
}

# wait_quiet SECS: until the machine is idle (< 0.1 CPUs busy for 2 s), for
# up to SECS.
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

# round_order R: the targets, rotated by R, into the array order.
round_order() {
    local i
    order=()
    for ((i = 0; i < ${#targets[@]}; i++)); do
        order+=("${targets[(i + $1) % ${#targets[@]}]}")
    done
}

# --- figures ---------------------------------------------------------------

median() { tr ' ' '\n' | grep . | sort -g | awk '{ v[NR] = $1 }
    END { if (NR % 2) printf "%.2f", v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
short() { awk -v v="$1" 'BEGIN { if (v >= 100) printf "%.0f", v; else printf "%.2f", v }'; }

# span A B: "[lowest-highest]" of the ratios A[i] / B[i] (figures,
# space-separated, round by round).
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
# goal WORKLOAD TARGET OTHER OP BOUND: one line, "met" or "missed"; nothing
# when either target has no figures for the workload.
goal() {
    local w=$1 t=$2 o=$3 op=$4 bound=$5 a b r ok
    [ -n "${runs["$w $t"]:-}" ] || return 0
    [ -n "${runs["$w $o"]:-}" ] || return 0
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

# Every figure, workload by workload, target by target, in round order.
print_runs() {
    local w t
    echo "runs (in round order):"
    for w in "${workloads[@]}"; do
        for t in "${targets[@]}"; do
            printf '  %-22s %-18s %s\n' "${wl_label[$w]}" "${label[$t]}" "${runs["$w $t"]:-}"
        done
    done
}

# ninep-mount's, diod's, bindfs's and sshfs's versions, on one line.
versions() {
    echo "$("$mount_bin" --version 2>/dev/null | head -n 1 || echo ninep-mount)," \
        "diod $(dpkg-query -W -f='${Version}' diod 2>/dev/null || echo ?)," \
        "bindfs $(dpkg-query -W -f='${Version}' bindfs 2>/dev/null || echo ?)${bindfs_opts:+ $bindfs_opts}," \
        "sshfs $(dpkg-query -W -f='${Version}' sshfs 2>/dev/null || echo ?);"
}
