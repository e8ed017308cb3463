#!/usr/bin/env python3
"""Print one line per path of a tree, and a final sha256 of all of them: the oracle of the capture tests.

Independent of the code it checks. Per path (sorted, relative): type, permission bits, uid, gid,
mtime in ns, and by type: a file's size, sha256, data segments (holes) and hard-link group; a
symlink's target; a device's rdev. Every path carries its sorted xattrs (POSIX ACLs included).
Directory mtimes count too. The root itself is listed as ".".

  python3 scripts/tree-hash.py DIR            # the digest only
  python3 scripts/tree-hash.py --lines DIR    # every line, then the digest
  --no-holes leaves out the data segments: a tar round trip fills holes in.
"""
import hashlib
import os
import stat
import sys


def segments(path, size):
    """The data regions, as SEEK_DATA and SEEK_HOLE report them."""
    found = []
    with open(path, "rb") as handle:
        fd = handle.fileno()
        offset = 0
        while offset < size:
            try:
                start = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError:
                break
            end = os.lseek(fd, start, os.SEEK_HOLE)
            found.append(f"{start}-{end}")
            offset = end
    return ",".join(found)


def digest(path):
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha.update(block)
    return sha.hexdigest()


def xattrs(path):
    try:
        names = sorted(os.listxattr(path, follow_symlinks=False))
    except OSError:
        return ""
    return ";".join(f"{name}={os.getxattr(path, name, follow_symlinks=False).hex()}" for name in names)


def lines(root, holes=True):
    groups = {}
    out = []
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + files) + ([] if directory != root else ["."]):
            path = os.path.normpath(os.path.join(directory, name))
            relative = os.path.relpath(path, root)
            info = os.lstat(path)
            mode = info.st_mode
            fields = [relative, oct(stat.S_IMODE(mode)), str(info.st_uid), str(info.st_gid), str(info.st_mtime_ns)]
            if stat.S_ISREG(mode):
                group = ""
                if info.st_nlink > 1:
                    group = groups.setdefault((info.st_dev, info.st_ino), relative)
                fields = ["file"] + fields + [str(info.st_size), digest(path), segments(path, info.st_size) if holes else "-", "link:" + group]
            elif stat.S_ISDIR(mode):
                fields = ["dir"] + fields
            elif stat.S_ISLNK(mode):
                fields = ["symlink"] + fields + [os.readlink(path)]
            elif stat.S_ISFIFO(mode):
                fields = ["fifo"] + fields
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                fields = ["chr" if stat.S_ISCHR(mode) else "blk"] + fields + [str(info.st_rdev)]
            else:
                continue  # sockets are not archived
            out.append(" ".join(fields + ["xattrs:" + xattrs(path)]))
    return sorted(out)


def main():
    args = sys.argv[1:]
    show = "--lines" in args
    holes = "--no-holes" not in args
    args = [a for a in args if a not in ("--lines", "--no-holes")]
    if len(args) != 1:
        sys.exit(__doc__)
    found = lines(args[0], holes)
    if show:
        print("\n".join(found))
    print(hashlib.sha256("\n".join(found).encode()).hexdigest())


main()
