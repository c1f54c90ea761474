"""What every fuzz case must satisfy, and the worker that runs the cases.

A case is a command line run in a fresh directory. Whatever the input, learncost must exit 0 or 2
(3 only from ``verify``), print exactly one line on stderr when it exits 2 (carrying a registered
LC-* code, or one JSON object with ``-f json``), never a traceback, finish within the case's time
limit under a 1 GiB address-space limit, print strict JSON (no NaN) on success with ``-f json``, and
leave no file behind but the ``--output`` it reports.
"""

from __future__ import annotations

import collections
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

from learncost.errors import CODES

ROOT = Path(__file__).resolve().parents[1]
#: seconds a case may take: the acceptance's 10 s, with the worker's reading limit set below it
CASE_SECONDS = 10.0
READ_TIMEOUT = "4"
#: every case's outcome, by test and exit status (printed, or written to $LEARNCOST_FUZZ_REPORT)
OUTCOMES: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)


class Worker:
    """A long-lived ``fuzz_worker`` process; replaced after a case that hangs or kills it."""

    def __init__(self):
        self.proc = None

    def _start(self):
        req_r, req_w = os.pipe()
        ans_r, ans_w = os.pipe()
        env = dict(os.environ, LEARNCOST_READ_TIMEOUT=READ_TIMEOUT, PYTHONPATH=str(ROOT / "src"),
                   COLUMNS="100")
        self.proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fuzz_worker.py"), str(req_r), str(ans_w)],
                                     pass_fds=(req_r, ans_w), env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(req_r)
        os.close(ans_w)
        self.requests = os.fdopen(req_w, "w")
        self.answers = os.fdopen(ans_r, "r")

    def run(self, argv: list[str], cwd: Path, timeout: float = CASE_SECONDS) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        self.requests.write(json.dumps({"argv": argv, "cwd": str(cwd)}) + "\n")
        self.requests.flush()
        start = time.monotonic()
        ready, _, _ = select.select([self.answers], [], [], timeout)
        if not ready:
            self.close()
            return {"status": None, "stdout": "", "stderr": "", "seconds": time.monotonic() - start, "hang": True}
        line = self.answers.readline()
        if not line:  # the worker died: a crash or the memory limit
            code = self.proc.wait()
            self.proc = None
            return {"status": None, "stdout": "", "stderr": f"worker died ({code})", "seconds": 0, "died": True}
        return json.loads(line)

    def close(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


def _strict(text: str):
    def refuse(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


def check(outcome: dict, argv: list[str], cwd: Path, before: set[str], test: str, allow: tuple = (0, 2)) -> dict:
    """Asserts the invariants above for one case and records its outcome."""
    what = f"learncost {' '.join(argv)}"
    assert not outcome.get("hang"), f"hang (> {CASE_SECONDS} s): {what}"
    assert not outcome.get("died"), f"{outcome['stderr']}: {what}"
    status, err = outcome["status"], outcome["stderr"]
    OUTCOMES[test][status] += 1
    assert status in allow, f"exit status {status}: {what}\n{err}"
    assert "Traceback" not in err, f"traceback: {what}\n{err}"
    formats = [argv[k + 1] for k in range(len(argv) - 1) if argv[k] in ("-f", "--format")]
    as_json = bool(formats) and formats[-1] == "json"  # the last one counts, as for click
    if status == 2:
        lines = err.splitlines()
        assert len(lines) == 1, f"{len(lines)} stderr lines: {what}\n{err}"
        if as_json:
            error = _strict(lines[0])
            assert error["code"] in CODES and error["message"] and error["exit_status"] == 2, what
        else:
            assert lines[0].startswith("learncost: error: "), what
            code = lines[0].rsplit("[", 1)[-1].rstrip("]")
            assert code in CODES, f"unregistered code {code}: {what}"
        assert outcome["stdout"] == "", f"stdout on error: {what}"
    elif status == 0 and as_json and outcome["stdout"]:
        _strict(outcome["stdout"])
    after = {p.name for p in cwd.iterdir()}
    made = after - before
    if "-o" in argv and status == 0:
        made.discard(Path(argv[argv.index("-o") + 1]).name)
    assert not made, f"left behind {sorted(made)}: {what}"
    return outcome


def report() -> None:
    text = json.dumps({test: {str(k): v for k, v in sorted(c.items(), key=str)} for test, c in OUTCOMES.items()},
                      indent=1)
    path = os.environ.get("LEARNCOST_FUZZ_REPORT")
    if path:
        Path(path).write_text(text + "\n")
