"""Fault injection, the fast sample: real servers of the tests' own (never the shared
session servers) are SIGKILLed or SIGSTOPped while an artifact call is in flight.

Each fault: the call fails within the bound with an ``MlflowException`` naming the
artifact and the cause; nothing under a final name is incomplete (store read directly, or
the download directory); rerunning the call once the server is back completes, every
SHA-256 matches, and no temporary name or open multipart upload is left behind. The full
campaign (>= 200 faults, 256 MiB files) is
``tests/faults_campaign.py``, run by ``scripts/faults.sh``.
"""

from __future__ import annotations

import contextlib

import pytest

from .faults_runner import Campaign, Workload
from .faults_targets import TARGETS

TIMEOUT = 5  #: MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT for every fault
BOUND = 40.0  #: seconds from the fault to the error: a few timeouts plus the retry backoff

SAMPLE = [
    ("s3-seaweedfs", "log_artifacts", "kill"),
    ("s3-seaweedfs", "download_artifacts", "pause"),
    ("s3-seaweedfs", "log_artifact", "kill"),  # a 24 MiB file: 3 parts in flight at once
    ("sftp-sshd", "log_artifacts", "kill"),
    ("sftp-sshd", "log_artifact", "kill"),
    ("ftp-pyftpdlib", "log_artifact", "kill"),
    ("ftp-pyftpdlib", "log_artifacts", "kill"),
    ("azure-azurite", "download_artifacts", "kill"),
]


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    """Dedicated servers (started on first use, stopped at the end) and a 200-file workload."""
    work = Workload(tmp_path_factory.mktemp("fault-work"), files=200, big_bytes=24 * 2**20)
    work.build()
    started: dict = {}

    class Lazy(dict):
        def __missing__(self, name):
            target = TARGETS[name](tmp_path_factory.mktemp(f"fault-{name}"), TIMEOUT)
            target.start()
            started[name] = self[name] = target
            return target

    yield Campaign(Lazy(), work, BOUND)
    for target in started.values():
        with contextlib.suppress(Exception):
            target.stop()


@pytest.mark.parametrize(("backend", "operation", "fault"), SAMPLE, ids=["-".join(case) for case in SAMPLE])
def test_fault_fails_cleanly_and_the_rerun_completes(campaign, backend, operation, fault):
    outcome = campaign.run(backend, operation, fault)
    print(outcome)
    assert outcome.injected, "the call always finished before the fault could hit it"
    assert outcome.reported or outcome.survived, f"not a clear MlflowException within {BOUND} s: {outcome}"
    assert outcome.partial == 0, f"incomplete files under final names: {outcome}"
    assert outcome.bytes_lost == 0 and outcome.rerun_ok, f"the rerun did not restore every byte: {outcome}"
    assert outcome.debris == 0, f"temporary names or open multipart uploads left after the rerun: {outcome}"
