#!/usr/bin/env python3
"""mkcpio.py SPEC OUT: write an initramfs (cpio "newc", uncompressed) from a list in the format
of the kernel's usr/gen_init_cpio, so that device nodes need no root and the archive is the
same byte for byte on every run (owner root, mtime 0, inodes numbered in order):

    dir   PATH MODE
    file  PATH SOURCE MODE
    nod   PATH MODE c|b MAJOR MINOR
    slink PATH TARGET MODE

MODE is octal; blank lines and lines starting with # are skipped.
"""
import os
import stat
import sys


def pad4(n):
    return (4 - n % 4) % 4


def entry(out, ino, mode, name, data=b"", rdev=(0, 0), nlink=1):
    name_b = name.encode() + b"\0"
    fields = [ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(name_b), 0]
    hdr = b"070701" + b"".join(b"%08X" % f for f in fields)
    out.write(hdr + name_b + b"\0" * pad4(len(hdr) + len(name_b)))
    out.write(data + b"\0" * pad4(len(data)))


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: mkcpio.py SPEC OUT")
    spec, dest = sys.argv[1], sys.argv[2]
    tmp = dest + ".tmp"
    with open(spec) as f, open(tmp, "wb") as out:
        ino = 1
        for lineno, line in enumerate(f, 1):
            w = line.split()
            if not w or w[0].startswith("#"):
                continue
            kind, path = w[0], w[1].lstrip("/")
            try:
                if kind == "dir":
                    entry(out, ino, stat.S_IFDIR | int(w[2], 8), path, nlink=2)
                elif kind == "file":
                    with open(w[2], "rb") as src:
                        data = src.read()
                    entry(out, ino, stat.S_IFREG | int(w[3], 8), path, data)
                elif kind == "nod":
                    kind_bits = stat.S_IFCHR if w[3] == "c" else stat.S_IFBLK
                    entry(out, ino, kind_bits | int(w[2], 8), path, rdev=(int(w[4]), int(w[5])))
                elif kind == "slink":
                    entry(out, ino, stat.S_IFLNK | int(w[3], 8), path, w[2].encode())
                else:
                    sys.exit(f"{spec}:{lineno}: unknown entry type '{kind}'")
            except (IndexError, ValueError):
                sys.exit(f"{spec}:{lineno}: malformed line: {line.strip()}")
            ino += 1
        entry(out, 0, 0, "TRAILER!!!")
        out.write(b"\0" * pad4(out.tell()))
    os.replace(tmp, dest)


if __name__ == "__main__":
    main()
