"""Workloads, contenders and data-set sizes shared by the runner and the worker."""

from __future__ import annotations

from dataclasses import asdict, dataclass

CONTENDERS = ("artifact_fs", "mlflow", "raw")
BACKENDS = ("local", "s3")

#: workload id -> one-line description (the order is the run order).
WORKLOADS = {
    "W1": "log_artifacts of a tree of small files",
    "W2": 'download_artifacts("", dst) of that tree',
    "W3": "log_artifact of one big file",
    "W4": "download_artifacts of that file",
    "W5a": "list_artifacts of one big directory (5 calls)",
    "W5b": "recursive walk: list every directory of the W1 tree",
    "W6": "repository construction through the registry (no I/O)",
}

#: Workloads with no raw-client equivalent (there is no repository to construct).
RAW_NOT_APPLICABLE = frozenset({"W6"})

BUCKET_PREFIX = "bench"
BIG_FILE_NAME = "big.bin"
LIST_CALLS = 5


@dataclass(frozen=True)
class Sizes:
    """Data-set sizes of one ``--scale``."""

    tree_files: int  #: W1/W2: number of 4 KiB files in the tree
    tree_dirs: int  #: W1/W2: number of directories they are spread over
    tree_file_bytes: int
    big_file_bytes: int  #: W3/W4
    listing_entries: int  #: W5a: entries of the big directory
    constructions: int  #: W6

    def as_dict(self) -> dict:
        """Plain-dict form (for JSON and for the worker's command line)."""
        return asdict(self)

    def describe(self, workload: str) -> str:
        """Human-readable size of ``workload`` (for the report)."""
        if workload in ("W1", "W2"):
            return f"{self.tree_files} files × {self.tree_file_bytes // 1024} KiB in {self.tree_dirs} dirs"
        if workload in ("W3", "W4"):
            return f"1 file × {self.big_file_bytes // 2**20} MiB"
        if workload == "W5a":
            return f"{self.listing_entries} entries × {LIST_CALLS} calls"
        if workload == "W5b":
            return f"{self.tree_dirs + 1} directories, {self.tree_files} files"
        return f"{self.constructions} constructions"


SCALES = {
    "full": Sizes(2000, 20, 4096, 256 * 2**20, 5000, 1000),
    # File counts / 10, big file / 8; W6 (no files) keeps its 1,000 constructions.
    "small": Sizes(200, 20, 4096, 32 * 2**20, 500, 1000),
}
