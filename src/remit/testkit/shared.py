"""Where the third-party sample files are: ``../shared/testdata`` beside the repository.

Conformance tests read them in place (they are never copied into the repository) and skip,
saying why, when the folder is absent. ``REMIT_SHARED_TESTDATA`` names another folder; a
clone outside the team's work folder (a CI clone under /tmp) finds ``/work/shared/testdata``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
WORK_FOLDER = Path("/work/shared/testdata")


def testdata_root() -> Path:
    """The shared test data folder (which may not exist)."""
    named = os.environ.get("REMIT_SHARED_TESTDATA")
    if named:
        return Path(named)
    beside = REPO.parent / "shared" / "testdata"
    return beside if beside.exists() else WORK_FOLDER


def testdata(*parts: str) -> Path:
    """A path under the shared test data, or skip the test when that path is absent."""
    path = testdata_root().joinpath(*parts)
    if not path.exists():
        pytest.skip(f"third-party sample {path} is absent (see ../shared/testdata/README.md)")
    return path
