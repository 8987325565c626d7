"""The full fault-injection campaign (opt-in): ``scripts/faults.sh``.

Every backend with a server we can kill (S3 on SeaweedFS, SFTP on sshd, FTP on pyftpdlib,
Azure on Azurite) x every operation (a 200-file ``log_artifacts``, a single-file upload of
``ARTIFACT_FS_FAULTS_BIG_MIB`` MiB, default 256, a 200-file directory download) x both faults
(SIGKILL, SIGSTOP), ``ARTIFACT_FS_FAULTS_ROUNDS`` times (default 9: 216 faults). The summary
(faults per backend, failures correctly reported, bytes lost, partial objects left, hidden
leftovers) is printed and written to ``ARTIFACT_FS_FAULTS_SUMMARY`` (default
``faults-summary.json`` in the pytest base temp directory).

This file is not collected by the normal suite (its name does not start with ``test_``).
"""

from __future__ import annotations

import contextlib
import os
import pathlib

import pytest

from .faults_runner import FAULTS, OPERATIONS, Campaign, Workload, write_summary
from .faults_targets import TARGETS

TIMEOUT = 5
BOUND = 30.0
#: Faults the campaign injects and reports, but whose "failed within the bound" is a known
#: gap: a SIGSTOPped server stops reading a request body; aiohttp (under azure-core and
#: aiobotocore) has no write timeout, so the upload waits until the server resumes.
KNOWN_GAPS = {("azure-azurite", "log_artifact", "pause"), ("s3-seaweedfs", "log_artifact", "pause")}


@pytest.mark.faults
def test_fault_campaign(tmp_path_factory):
    rounds = int(os.environ.get("ARTIFACT_FS_FAULTS_ROUNDS", "9"))
    big = int(os.environ.get("ARTIFACT_FS_FAULTS_BIG_MIB", "256")) * 2**20
    backends = os.environ.get("ARTIFACT_FS_FAULTS_BACKENDS", ",".join(TARGETS)).split(",")
    summary_path = pathlib.Path(
        os.environ.get("ARTIFACT_FS_FAULTS_SUMMARY") or tmp_path_factory.getbasetemp() / "faults-summary.json"
    )
    work = Workload(tmp_path_factory.mktemp("campaign-work"), files=200, big_bytes=big)
    work.build()
    targets = {name: TARGETS[name](tmp_path_factory.mktemp(f"campaign-{name}"), TIMEOUT) for name in backends}
    campaign = Campaign(targets, work, BOUND)
    try:
        for name in backends:
            targets[name].start()
            try:
                for _ in range(rounds):
                    for operation in OPERATIONS:
                        for fault in FAULTS:
                            print(campaign.run(name, operation, fault), flush=True)
            finally:
                with contextlib.suppress(Exception):
                    targets[name].stop()
    finally:
        print(write_summary(campaign.outcomes, summary_path))
    hit = [o for o in campaign.outcomes if o.injected]
    assert sum(o.bytes_lost for o in hit) == 0
    assert sum(o.partial for o in hit) == 0
    assert all(o.rerun_ok for o in hit)
    unreported = [
        o for o in hit if not (o.reported or o.survived) and (o.backend, o.operation, o.fault) not in KNOWN_GAPS
    ]
    assert not unreported, unreported
