#!/usr/bin/env python3
"""A deterministic source tree for scripts/bench-work.sh.

    gen-tree.py OUTDIR [--files N] [--seed S] [--marker WORD]

Writes into OUTDIR (which must not exist) a tree shaped like a real source
tree: directories nested 2-5 deep (about one per 15 files), mostly small
text files (1-30 KB: identifiers, keywords, numbers, punctuation), a tail
of larger ones up to 3 MB, a few binary files (random bytes), a few
executable scripts and symlinks, a .gitignore, and a small C project in
cbuild/ (a Makefile and 40 units) whose program prints a known line.
The same arguments give the same bytes (Python's random with a fixed seed).

MARKER appears in some lines of some text files, at most once per line; its
count of lines is printed. Prints, one per line, key=value:

    files dirs symlinks bytes marker_lines build_output
"""

import argparse
import os
import random
import sys

SYLLABLES = [
    "ab", "ac", "ad", "al", "am", "an", "ar", "as", "at", "ba", "be", "bi",
    "bo", "bu", "ca", "ce", "ch", "ci", "co", "cu", "da", "de", "di", "do",
    "du", "el", "em", "en", "er", "es", "et", "fa", "fe", "fi", "fo", "ga",
    "ge", "gi", "go", "ha", "he", "hi", "ho", "id", "il", "im", "in", "ir",
    "is", "it", "la", "le", "li", "lo", "lu", "ma", "me", "mi", "mo", "mu",
    "na", "ne", "ni", "no", "nu", "ob", "od", "ol", "om", "on", "op", "or",
    "os", "pa", "pe", "pi", "po", "pu", "ra", "re", "ri", "ro", "ru", "sa",
    "se", "si", "so", "st", "su", "ta", "te", "ti", "to", "tr", "tu", "ul",
    "um", "un", "ur", "us", "va", "ve", "vi", "vo",
]
KEYWORDS = [
    "fn", "let", "mut", "if", "else", "for", "while", "return", "match",
    "struct", "enum", "impl", "pub", "use", "mod", "const", "static", "int",
    "void", "char", "unsigned", "long", "def", "class", "import", "from",
    "self", "true", "false", "None", "null", "async", "await", "type",
]
PUNCT = ["(", ")", "{", "}", "[", "]", ";", ",", ".", "->", "=>", "=", "+",
         "-", "*", "/", "&", "|", "<", ">", "::", ":", "!", "?", "#"]
TEXT_EXT = [".rs", ".rs", ".c", ".h", ".py", ".go", ".md", ".txt", ".json",
            ".toml", ".yml", ".js", ".ts", ".cc"]
BIN_EXT = [".png", ".bin", ".jar", ".gz", ".so"]
TOP_DIRS = ["src", "lib", "crates", "docs", "tests", "tools", "include",
            "vendor", "examples", "bench", "third_party", "assets"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--files", type=int, default=9200)
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--marker", default="zqxbenchword")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    os.makedirs(a.out)

    def ident():
        w = "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 4)))
        if rng.random() < 0.35:
            w += "_" + "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(1, 3)))
        return w

    vocab = sorted({ident() for _ in range(4000)})
    words = vocab + KEYWORDS * 8
    assert not any(a.marker in w for w in words)

    # A pool of lines that files are made of.
    pool = []
    for _ in range(40000):
        n = rng.randint(0, 12)
        toks = []
        for _ in range(n):
            r = rng.random()
            if r < 0.72:
                toks.append(rng.choice(words))
            elif r < 0.9:
                toks.append(rng.choice(PUNCT))
            else:
                toks.append(str(rng.randint(0, 65535)))
        pool.append("    " * rng.randint(0, 4) + " ".join(toks) + "\n")
    avg_line = sum(map(len, pool)) / len(pool)

    # Directories: the top ones (depth 1) and children down to depth 5,
    # about one per 15 files; files go into depth 2-5 (and a few at the top).
    ndirs = max(12, a.files // 15)
    dirs = [(d, 1) for d in TOP_DIRS]
    while len(dirs) < ndirs:
        parent, depth = rng.choice(dirs)
        if depth >= 5:
            continue
        name = ident()
        path = parent + "/" + name
        if any(p == path for p, _ in dirs[-50:]):
            continue
        dirs.append((path, depth + 1))
    dirs = sorted(set(dirs))
    for d, _ in dirs:
        os.makedirs(os.path.join(a.out, d), exist_ok=True)
    deep = [d for d, depth in dirs if depth >= 2]

    # The C project first: its files count among the others.
    build_output = write_cbuild(rng, a.out)
    nfiles = 2 + 43  # .gitignore, README.md; cbuild: Makefile, units.h, main.c, 40 units
    with open(os.path.join(a.out, ".gitignore"), "w") as f:
        f.write("*.o\n/cbuild/prog\n/cbuild/obj/\n")
    with open(os.path.join(a.out, "README.md"), "w") as f:
        f.write("# generated tree\n\n" + "".join(rng.choices(pool, k=60)))

    marker_lines = 0
    nbin = max(3, a.files // 600)
    nexec = max(3, a.files // 400)
    used = set()
    regular = []
    while nfiles < a.files:
        d = rng.choice(deep) if rng.random() < 0.97 else ""
        is_bin = nbin > 0 and rng.random() < 0.02
        ext = rng.choice(BIN_EXT) if is_bin else rng.choice(TEXT_EXT)
        name = ident() + ext
        rel = (d + "/" if d else "") + name
        if rel in used:
            continue
        used.add(rel)
        r = rng.random()
        if is_bin or r < 0.0015:  # the long tail: 120 KB - 3 MB
            size = int(120e3 * (25 ** rng.random()))
        elif r < 0.0415:  # 30 - 120 KB
            size = int(30e3 * (4 ** rng.random()))
        else:  # 1 - 30 KB
            size = int(1e3 * (30 ** rng.random()))
        path = os.path.join(a.out, rel)
        if is_bin:
            nbin -= 1
            with open(path, "wb") as f:
                f.write(rng.randbytes(size))
        else:
            lines = rng.choices(pool, k=max(1, int(size / avg_line)))
            if rng.random() < 0.04:
                for i in rng.sample(range(len(lines)), min(len(lines), rng.randint(1, 5))):
                    lines[i] = lines[i].rstrip("\n") + " " + a.marker + "\n"
                    marker_lines += 1
            if nexec > 0 and ext == ".py" and rng.random() < 0.2:
                nexec -= 1
                lines.insert(0, "#!/usr/bin/env python3\n")
                with open(path, "w") as f:
                    f.write("".join(lines))
                os.chmod(path, 0o755)
            else:
                with open(path, "w") as f:
                    f.write("".join(lines))
            regular.append(rel)
        nfiles += 1

    # A few symlinks, each to a file in its own directory, named so that
    # the file comes first in a tarball sorted by name: tar sets the times
    # and owner of what it extracts, and sshfs (SFTP's setstat) follows a
    # symlink, failing (ENOENT) when the file is not there yet.
    nlinks = 0
    for rel in rng.sample(regular, max(3, a.files // 800)):
        d, name = os.path.split(rel)
        stem, ext = os.path.splitext(name)
        link = os.path.join(a.out, d, stem + "_link" + ext)
        if not os.path.lexists(link):
            os.symlink(name, link)
            nlinks += 1

    nbytes = 0
    ndir_total = 0
    nfile_total = 0
    for root, ds, fs in os.walk(a.out):
        ndir_total += len(ds)
        for f in fs:
            p = os.path.join(root, f)
            if not os.path.islink(p):
                nfile_total += 1
                nbytes += os.path.getsize(p)
    print(f"files={nfile_total}")
    print(f"dirs={ndir_total}")
    print(f"symlinks={nlinks}")
    print(f"bytes={nbytes}")
    print(f"marker_lines={marker_lines}")
    print(f"build_output={build_output}")


def write_cbuild(rng, out):
    """cbuild/: Makefile, include/units.h, src/main.c, src/u00.c..u39.c.
    Returns the line the program prints."""
    units = 40
    base = os.path.join(out, "cbuild")
    os.makedirs(os.path.join(base, "src"))
    os.makedirs(os.path.join(base, "include"))
    with open(os.path.join(base, "Makefile"), "w") as f:
        f.write(
            "CC ?= cc\n"
            "CFLAGS ?= -O2 -Wall -Wextra\n"
            "SRCS := $(sort $(wildcard src/*.c))\n"
            "OBJS := $(patsubst src/%.c,obj/%.o,$(SRCS))\n\n"
            "prog: $(OBJS)\n"
            "\t$(CC) $(CFLAGS) -o $@ $(OBJS)\n\n"
            "obj/%.o: src/%.c include/units.h | obj\n"
            "\t$(CC) $(CFLAGS) -Iinclude -c -o $@ $<\n\n"
            "obj:\n"
            "\tmkdir -p obj\n\n"
            "clean:\n"
            "\trm -rf obj prog\n\n"
            ".PHONY: clean\n"
        )
    with open(os.path.join(base, "include", "units.h"), "w") as f:
        f.write("#ifndef UNITS_H\n#define UNITS_H\n")
        for u in range(units):
            f.write(f"long long unit_{u:02d}(void);\n")
        f.write("#endif\n")
    total = 0
    for u in range(units):
        vals = [rng.randint(0, 99999) for _ in range(256)]
        total += sum(vals)
        with open(os.path.join(base, "src", f"u{u:02d}.c"), "w") as f:
            f.write('#include "units.h"\n#include <string.h>\n\n')
            f.write(f"static const long long data_{u:02d}[256] = {{\n")
            for i in range(0, 256, 8):
                f.write("    " + ", ".join(str(v) for v in vals[i:i + 8]) + ",\n")
            f.write("};\n\n")
            # Helpers that give the compiler some work and cancel out.
            for h in range(12):
                k = rng.randint(3, 97)
                f.write(
                    f"static long long mix_{h}(long long x)\n{{\n"
                    f"    long long acc = 0;\n"
                    f"    for (int i = 0; i < {k}; i++) {{\n"
                    f"        acc += (x ^ i) * {k} - (acc >> 3);\n"
                    f"        if (acc & 1) acc -= i; else acc += i;\n"
                    f"    }}\n"
                    f"    return acc;\n}}\n\n"
                )
            f.write(f"long long unit_{u:02d}(void)\n{{\n")
            f.write("    long long s = 0, noise = 0;\n")
            f.write("    char buf[64];\n")
            f.write(f"    memset(buf, {u}, sizeof buf);\n")
            f.write("    for (int i = 0; i < 256; i++)\n")
            f.write(f"        s += data_{u:02d}[i];\n")
            for h in range(12):
                f.write(f"    noise += mix_{h}(s + buf[{h}]);\n")
            f.write("    return s + (noise - noise);\n}\n")
    with open(os.path.join(base, "src", "main.c"), "w") as f:
        f.write('#include <stdio.h>\n#include "units.h"\n\nint main(void)\n{\n')
        f.write("    long long total = 0;\n")
        for u in range(units):
            f.write(f"    total += unit_{u:02d}();\n")
        f.write(f'    printf("cbuild ok: {units} units, total %lld\\n", total);\n')
        f.write("    return 0;\n}\n")
    return f"cbuild ok: {units} units, total {total}"


if __name__ == "__main__":
    sys.exit(main())
