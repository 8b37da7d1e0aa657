#!/usr/bin/env bash
# The main job on a fresh Debian machine, as root: install what is missing,
# build ninep-mount in release mode, serve a demo folder with diod on
# loopback, and mount it with ninep-mount. Leaves the mount and diod
# running and says how to stop them.
set -euo pipefail

cd "$(dirname "$0")/.."
DEMO=${DEMO_DIR:-/tmp/ninep-demo}
PORT=${DEMO_PORT:-5640}

say() { printf '\n== %s\n' "$*"; }

need=()
command -v diod >/dev/null 2>&1 || [ -x /usr/sbin/diod ] || need+=(diod)
dpkg-query -W -f='${Status}' fuse3 2>/dev/null | grep -q 'ok installed' || need+=(fuse3)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
DIOD=$(command -v diod || echo /usr/sbin/diod)

say "building ninep-mount (release)"
cargo build --release -q -p ninep-mount
BIN=$PWD/target/release/ninep-mount

say "demo folder $DEMO/export"
mkdir -p "$DEMO/export/docs"
echo "Hello from a 9P server." >"$DEMO/export/hello.txt"
printf 'ninep-mount demo\n' >"$DEMO/export/docs/readme.txt"

if [ -f "$DEMO/diod.pid" ] && kill -0 "$(cat "$DEMO/diod.pid")" 2>/dev/null; then
    say "diod already running (pid $(cat "$DEMO/diod.pid"))"
else
    say "starting diod on 127.0.0.1:$PORT"
    # Its own session and no inherited descriptors, so it outlives this
    # script and never holds the caller's terminal or pipe open.
    setsid "$DIOD" -f -n -c /dev/null -l "127.0.0.1:$PORT" -e "$DEMO/export" -L stderr \
        </dev/null >"$DEMO/diod.log" 2>&1 &
    echo $! >"$DEMO/diod.pid"
    for _ in $(seq 50); do
        (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
        sleep 0.1
    done
fi

O="aname=$DEMO/export"
MNT="$DEMO/mnt"
mkdir -p "$MNT"
if mountpoint -q "$MNT"; then
    say "already mounted on $MNT"
else
    say "ninep-mount 127.0.0.1:$PORT $MNT -o $O"
    "$BIN" "127.0.0.1:$PORT" "$MNT" -o "$O"
fi
say "ls -l $MNT"
ls -l "$MNT"
say "cat $MNT/hello.txt"
cat "$MNT/hello.txt"
say "df -h $MNT"
df -h "$MNT"

cat <<TXT

What next:
  echo hi > $MNT/new.txt; ls -l $MNT         # it lands in $DEMO/export
  $BIN info 127.0.0.1:$PORT -o $O             # dialect, msize, statfs
  $BIN check 127.0.0.1:$PORT -o $O            # how diod handles Tflush
  $BIN -d 127.0.0.1:$PORT /mnt -o $O          # a foreground mount that traces 9P
Unmount:               umount $MNT   (or fusermount3 -u $MNT)
Stop the demo server:  kill \$(cat $DEMO/diod.pid)
TXT
