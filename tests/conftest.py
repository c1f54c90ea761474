from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LEARNCOST_SHARED", ROOT.parent / "shared"))
MODELS_DIR = SHARED / "models" / "mlperf-tiny"
SHEET = SHARED / "reference" / "analysis.ods"

needs_sheet = pytest.mark.skipif(not SHEET.exists(), reason=f"paper sheet not found at {SHEET} (../shared absent)")
needs_models = pytest.mark.skipif(not MODELS_DIR.exists(),
                                  reason=f"MLPerf Tiny model files not found at {MODELS_DIR} (../shared absent)")


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run the real console entry point in a fresh interpreter, as a user would."""
    return subprocess.run([sys.executable, "-m", "learncost", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=120)


@pytest.fixture(scope="session")
def fuzz_worker():
    """One worker process for all fuzz cases (see fuzz_harness); the outcome counts are written
    to $LEARNCOST_FUZZ_REPORT when the session ends."""
    from fuzz_harness import Worker, report

    worker = Worker()
    yield worker
    worker.close()
    report()


@pytest.fixture
def case_dir(tmp_path_factory):
    """A fresh, empty directory per fuzz case (hypothesis runs many examples per test function)."""
    def make():
        return tmp_path_factory.mktemp("case", numbered=True)

    return make
