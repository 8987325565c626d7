"""Workloads, contenders and data-set sizes shared by the runner and the worker."""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: ``artifact_fs``: its default engine (obstore on S3 where installed, the fsspec clients elsewhere);
#: ``af_obstore`` / ``af_fsspec``: artifact_fs with ``ARTIFACT_FS_ENGINE=obstore`` / ``fsspec``;
#: ``obstore``: obstore's native calls (benchmarks/raw_obstore.py). The engine ones only where a
#: row has the engine.
CONTENDERS = ("artifact_fs", "af_obstore", "af_fsspec", "mlflow", "raw", "obstore")
#: the contenders that are artifact_fs, and the engine each names (None: the default)
ARTIFACT_FS_ENGINES = {"artifact_fs": None, "af_obstore": "obstore", "af_fsspec": "fsspec"}

#: workload id -> one-line description (the order is the run order).
WORKLOADS = {
    "W1": "log_artifacts of a tree of small files",
    "W2": 'download_artifacts("", dst) of that tree',
    "W3": "log_artifact of one big file",
    "W4": "download_artifacts of that file",
    "W5a": "list_artifacts of one big directory (5 calls)",
    "W5b": "recursive walk: list every directory of the W1 tree",
    "W6": "repository construction through the registry (no I/O), one URI again and again; raw: a bare "
    "ArtifactRepository subclass",
    "W6d": "the same, a distinct URI each time (a new run path, as a tracking server's requests)",
    "W7a": "peak RSS: log_artifact of a 64 MiB file",
    "W7b": "peak RSS: log_artifact of the largest file (1 GiB; 256 MiB on slow emulators)",
    "W7c": "peak RSS: download_artifacts of a 64 MiB file",
    "W7d": "peak RSS: download_artifacts of the largest file",
}
#: Big-file workloads: which operation they run (W3 = upload, W4 = download).
BIG_FILE_OP = {"W3": "W3", "W4": "W4", "W7a": "W3", "W7b": "W3", "W7c": "W4", "W7d": "W4"}
#: Workloads the harness runs by default (W7 moves GiBs: ask for it with --workloads).
DEFAULT_WORKLOADS = ("W1", "W2", "W3", "W4", "W5a", "W5b", "W6", "W6d", "W7a", "W7b", "W7c", "W7d")
#: the construction workloads (no I/O, no input data): the same URI, distinct URIs
CONSTRUCTION = ("W6", "W6d")

BUCKET_PREFIX = "bench"
BIG_FILE_NAME = "big.bin"
LIST_CALLS = 5
MIB = 2**20
W7_SMALL = 64 * MIB
W7_LARGE = 1024 * MIB
SLOW_EMULATOR_CAP = 256 * MIB  #: largest file on the slow emulators (Azurite, fake-gcs-server, HDFS)


@dataclass(frozen=True)
class Sizes:
    """Data-set sizes of one ``--scale``."""

    tree_files: int  #: W1/W2: number of 4 KiB files in the tree
    tree_dirs: int  #: W1/W2: number of directories they are spread over
    tree_file_bytes: int
    big_file_bytes: int  #: W3/W4 (capped per backend on slow emulators)
    listing_entries: int  #: W5a: entries of the big directory
    constructions: int  #: W6/W6d (a backend row may lower it: MLflow's SFTP connects in __init__)

    def as_dict(self) -> dict:
        """Plain-dict form (for JSON and for the worker's command line)."""
        return asdict(self)

    def big_bytes(self, workload: str, cap: int | None) -> int:
        """Size of the big file ``workload`` moves on a backend whose largest file is ``cap``."""
        wanted = {"W3": self.big_file_bytes, "W4": self.big_file_bytes, "W7a": W7_SMALL, "W7c": W7_SMALL}
        size = wanted.get(workload, W7_LARGE)
        return min(size, cap) if cap else size

    def describe(self, workload: str, big: int | None = None, constructions: int | None = None) -> str:
        """Human-readable size of ``workload`` (for the report)."""
        if workload in ("W1", "W2"):
            return f"{self.tree_files} files × {self.tree_file_bytes // 1024} KiB in {self.tree_dirs} dirs"
        if workload in BIG_FILE_OP:
            return f"1 file × {(big or self.big_file_bytes) // MIB} MiB"
        if workload == "W5a":
            return f"{self.listing_entries} entries × {LIST_CALLS} calls"
        if workload == "W5b":
            return f"{self.tree_dirs + 1} directories, {self.tree_files} files"
        return f"{constructions or self.constructions} constructions"


SCALES = {
    "full": Sizes(2000, 20, 4096, 1024 * MIB, 5000, 1000),
    # File counts / 10, big file / 32; W6 (no files) keeps its 1,000 constructions.
    "small": Sizes(200, 20, 4096, 32 * MIB, 500, 1000),
    # The slow emulators (Azurite, fake-gcs-server, the 2016 Hadoop) at full file size but a
    # tenth of the files: in-memory Azurite slows down as blobs pile up (a 2,000-blob W1
    # rep took 30 s, then its clean-up ~4 min, then the next rep over 5 min: 5 reps of
    # every workload at full scale do not fit a session).
    "emulator": Sizes(200, 20, 4096, 1024 * MIB, 500, 1000),
}
