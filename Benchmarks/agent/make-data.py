#!/usr/bin/env python3
"""Write about 1 GiB of mixed files, the shape of a home-cloud guest's data.

usage: make-data.py DIR [MIB]
- 40% large incompressible files (photos, media: already compressed),
- 35% medium text-like files (documents, logs: compress well),
- 25% many small files of 4-64 KiB (thumbnails, mail, source trees).
The same seed gives the same tree, so runs compare like with like.
"""
import os
import random
import sys

root = sys.argv[1]
total = int(sys.argv[2]) if len(sys.argv) > 2 else 1024
rng = random.Random(20261125)
MIB = 1 << 20
words = [bytes(rng.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(2, 10))) for _ in range(5000)]


def text(size):
    parts, length = [], 0
    while length < size:
        line = b" ".join(rng.choice(words) for _ in range(12)) + b"\n"
        parts.append(line)
        length += len(line)
    return b"".join(parts)[:size]


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


written = 0
for index in range(int(total * 0.40) // 16):
    write(f"{root}/media/album-{index // 8}/img-{index}.jpg", os.urandom(16 * MIB))
    written += 16 * MIB
chunk = text(4 * MIB)
for index in range(int(total * 0.35) // 4):
    write(f"{root}/documents/year-{index % 5}/doc-{index}.txt", chunk[index % 97:] + chunk[:index % 97])
    written += 4 * MIB
small_budget = total * MIB - written
index = 0
while small_budget > 0:
    size = rng.randint(4, 64) * 1024
    data = os.urandom(size // 2) + text(size - size // 2)
    write(f"{root}/small/dir-{index // 200}/file-{index}.dat", data)
    small_budget -= size
    written += size
    index += 1
print(f"{root}: {written / MIB:.0f} MiB in {index} small files plus large and medium ones")
