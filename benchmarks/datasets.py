"""Deterministic input data, generated once per run, and the store layout every contender shares.

Layout of a store (a local directory, a bucket, a remote directory):

* ``inputs/tree/dNN/fNNNNN.bin``   W2 / W5b input (uploaded once by the admin client)
* ``inputs/big-<bytes>/big.bin``   W4 / W7c / W7d inputs, one per size
* ``inputs/listing/eNNNNNN.txt``   W5a input
* ``<contender>/<workload>/repN/`` what W1 / W3 / W7a / W7b write (one prefix per measurement)
"""

from __future__ import annotations

import os
import random

from .config import BIG_FILE_NAME, Sizes

TREE = "inputs/tree"
LISTING = "inputs/listing"
LISTING_PARENT = "inputs"
LISTING_NAME = "listing"
CHUNK = 1 << 20


def big_dir(size: int) -> str:
    """Store directory of the big input file of ``size`` bytes."""
    return f"inputs/big-{size}"


def tree_relpaths(sizes: Sizes) -> list[str]:
    """POSIX relative paths of the W1 tree: files spread round-robin over ``tree_dirs`` directories."""
    return [f"d{i % sizes.tree_dirs:02d}/f{i:05d}.bin" for i in range(sizes.tree_files)]


def listing_names(sizes: Sizes) -> list[str]:
    """File names in the W5a directory."""
    return [f"e{i:06d}.txt" for i in range(sizes.listing_entries)]


def _write(path: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)


def write_big(path: str, size: int) -> str:
    """A file of ``size`` seeded pseudo-random bytes at ``path`` (same bytes every run)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = random.Random(0xB16)
    with open(path, "wb") as handle:
        remaining = size
        while remaining > 0:
            step = min(CHUNK, remaining)
            handle.write(rng.randbytes(step))
            remaining -= step
    return path


def generate(data_dir: str, sizes: Sizes, big_sizes: set[int]) -> dict:
    """Write the data sets under ``data_dir`` (same bytes for the same sizes).

    Returns ``{"tree": dir, "listing": dir, "big_files": {"<bytes>": file}}``. Content
    is pseudo-random (seeded), so it does not compress and is identical from run to run.
    """
    tree = os.path.join(data_dir, "tree")
    for index, relative in enumerate(tree_relpaths(sizes)):
        _write(os.path.join(tree, *relative.split("/")), random.Random(index).randbytes(sizes.tree_file_bytes))
    listing = os.path.join(data_dir, "listing")
    for index, name in enumerate(listing_names(sizes)):
        _write(os.path.join(listing, name), f"entry {index:010d}\n".encode())
    big_files = {
        str(size): write_big(os.path.join(data_dir, f"big-{size}", BIG_FILE_NAME), size) for size in sorted(big_sizes)
    }
    return {"tree": tree, "listing": listing, "big_files": big_files}


def local_files(root: str) -> list[tuple[str, str]]:
    """``(absolute path, POSIX path relative to root)`` of every file under ``root``, sorted."""
    out = []
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in filenames:
            full = os.path.join(dirpath, name)
            out.append((full, os.path.relpath(full, root).replace(os.sep, "/")))
    return sorted(out, key=lambda pair: pair[1])


def tree_stats(root: str) -> tuple[int, int]:
    """``(file count, total bytes)`` under a local directory."""
    files = local_files(root)
    return len(files), sum(os.path.getsize(full) for full, _ in files)
