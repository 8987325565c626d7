"""Summarise a py-spy collapsed-stack file: ``python -m benchmarks.profile_top FILE [--match TEXT] [-n 25]``.

Prints the functions with the most samples, inclusive (anywhere on the stack) and
self (top of the stack), so a miss can be traced to its cause before tuning.
"""

from __future__ import annotations

import argparse
import collections


def main(argv=None) -> None:
    """Print the top inclusive and self frames of a py-spy ``--format raw`` file."""
    parser = argparse.ArgumentParser()
    parser.add_argument("file")
    parser.add_argument("--match", default="", help="only stacks containing this text")
    parser.add_argument("-n", type=int, default=25)
    args = parser.parse_args(argv)
    inclusive, own, total = collections.Counter(), collections.Counter(), 0
    with open(args.file) as handle:
        for line in handle:
            stack, _, count = line.rstrip().rpartition(" ")
            if args.match not in stack:
                continue
            frames = stack.split(";")
            total += int(count)
            own[frames[-1]] += int(count)
            for frame in set(frames):
                inclusive[frame] += int(count)
    print(f"{total} samples")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"--- {title}")
        for frame, count in counter.most_common(args.n):
            print(f"{count:6d} {100 * count / max(total, 1):5.1f}%  {frame[:160]}")


if __name__ == "__main__":
    main()
