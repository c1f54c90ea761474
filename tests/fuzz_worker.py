"""The fuzz suite's worker: runs ``learncost.cli.main`` on one command line after another, in a
process of its own with a memory limit, and reports each outcome as one JSON line.

Started by ``fuzz_harness.Worker``. Requests and answers travel over file descriptors of their own,
so nothing a case writes (even from C code, to fd 1 or 2) can break the protocol.

    request:  {"argv": [...], "cwd": "..."}
    answer:   {"status": int, "stdout": str, "stderr": str, "seconds": float}
"""

from __future__ import annotations

import io
import json
import os
import resource
import sys
import time


def main() -> None:
    limit = int(os.environ.get("FUZZ_MEMORY_BYTES", 1 << 30))
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    requests = os.fdopen(int(sys.argv[1]), "r")
    answers = os.fdopen(int(sys.argv[2]), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    from learncost.cli import main as cli

    for line in requests:
        request = json.loads(line)
        os.chdir(request["cwd"])
        out, err = io.StringIO(), io.StringIO()
        sys.stdout, sys.stderr = out, err
        start = time.perf_counter()
        try:
            status = cli(request["argv"])
        except BaseException as exc:  # main() must not let anything out: report it as a failure
            status = -1
            err.write(f"ESCAPED main(): {type(exc).__name__}: {exc}\n")
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        answers.write(json.dumps({"status": status, "stdout": out.getvalue(), "stderr": err.getvalue(),
                                  "seconds": time.perf_counter() - start}) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
