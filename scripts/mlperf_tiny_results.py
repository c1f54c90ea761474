"""Read MLPerf Tiny closed-division results into learncost's measurement file.

    python scripts/mlperf_tiny_results.py --v1.0 PATH --v1.1 PATH > src/learncost/data/hardware/measurements.yaml

PATH is a clone of ``mlcommons/tiny_results_v1.0`` (``..._v1.1``), a working tree or a bare repository.
For each submission below, per benchmark: the median throughput of ``performance/results.txt`` (the
runner's "Median throughput is ... inf./sec.") and, where the submission measured energy, the median
energy per inference and the throughput of the energy run ("Median energy cost is ... uJ/inf.").
v1.0 calibrates learncost's engine profiles; v1.1 is kept out of the fit and tests them.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

BENCHMARKS = ("kws", "vww", "ic", "ad")

#: (round, catalogue board, engine profile, results directory, engine as the submission names it)
SUBMISSIONS = [
    ("v1.0", "nucleo-h7a3zi-q", "x-cube-ai-7.3", "closed/STMicroelectronics/results/NUCLEO-H7A3ZI-Q", "X-CUBE-AI 7.3.0"),
    ("v1.0", "nucleo-u575zi-q", "x-cube-ai-7.3", "closed/STMicroelectronics/results/NUCLEO-U575ZI-Q", "X-CUBE-AI 7.3.0"),
    ("v1.0", "nucleo-l4r5zi", "x-cube-ai-7.3", "closed/STMicroelectronics/results/NUCLEO_L4R5ZI", "X-CUBE-AI 7.3.0"),
    ("v1.0", "disco-f746ng", "plumerai", "closed/plumerai/results/DISCO_F746NG", "Plumerai Inference Engine"),
    ("v1.0", "b-u585i-iot02a", "plumerai", "closed/plumerai/results/B_U585I_IOT02A", "Plumerai Inference Engine"),
    ("v1.0", "cy8cproto-062-4343w", "plumerai", "closed/plumerai/results/cy8cproto_062_4343w",
     "Plumerai Inference Engine"),
    ("v1.0", "nucleo-l4r5zi", "plumerai", "closed/plumerai/results/NUCLEO_L4R5ZI", "Plumerai Inference Engine"),
    ("v1.0", "nrf5340-dk", "microtvm-cmsis-nn", "closed/OctoML/results/microtvm_cmsis_nn/NRF5340-DK",
     "microTVM + CMSIS-NN"),
    ("v1.0", "nucleo-l4r5zi", "microtvm-cmsis-nn", "closed/OctoML/results/microtvm_cmsis_nn/NUCLEO_L4R5ZI",
     "microTVM + CMSIS-NN"),
    ("v1.0", "nucleo-l4r5zi", "microtvm-native", "closed/OctoML/results/microtvm_native/NUCLEO_L4R5ZI",
     "microTVM, native schedules"),
    ("v1.0", "xg24-dk2601b", "tflm-mvp", "closed/silicon_labs/results/silicon_labs_xG24_DK2601B",
     "TensorFlow Lite for Microcontrollers + Silicon Labs MVP"),
    # later round: never fitted, the test of the profiles (same engine family; newer versions say so)
    ("v1.1", "nucleo-h7a3zi-q", "x-cube-ai-7.3", "closed/Krai/results/NUCLEO-H7A3ZI-Q_X-CUBE-AI-7.3",
     "X-CUBE-AI 7.3 (Krai)"),
    ("v1.1", "nucleo-l4r5zi", "x-cube-ai-7.3", "closed/Krai/results/NUCLEO-L4R5ZI_X-CUBE-AI-7.3",
     "X-CUBE-AI 7.3 (Krai)"),
    ("v1.1", "disco-f746ng", "plumerai", "closed/plumerai/results/DISCO-F746NG", "Plumerai Inference Engine (v1.1)"),
    ("v1.1", "nucleo-h7a3zi-q", "plumerai", "closed/plumerai/results/NUCLEO-H7A3ZI-Q",
     "Plumerai Inference Engine (v1.1)"),
    ("v1.1", "nucleo-u575zi-q", "plumerai", "closed/plumerai/results/NUCLEO-U575ZI-Q",
     "Plumerai Inference Engine (v1.1)"),
    ("v1.1", "nucleo-l4r5zi", "plumerai", "closed/plumerai/results/NUCLEO-L4R5ZI", "Plumerai Inference Engine (v1.1)"),
    ("v1.1", "cy8cproto-062-4343w", "plumerai", "closed/plumerai/results/CY8CPROTO-062-4343W",
     "Plumerai Inference Engine (v1.1)"),
    ("v1.1", "nrf5340-dk", "microtvm-cmsis-nn", "closed/Krai/results/NRF5340-DK_MICROTVM-CMSIS-NN",
     "microTVM + CMSIS-NN (Krai)"),
    ("v1.1", "nucleo-l4r5zi", "microtvm-cmsis-nn", "closed/Krai/results/NUCLEO-L4R5ZI_MICROTVM-CMSIS-NN",
     "microTVM + CMSIS-NN (Krai)"),
    ("v1.1", "nucleo-l4r5zi", "microtvm-native", "closed/Krai/results/NUCLEO-L4R5ZI_MICROTVM-NATIVE",
     "microTVM, native schedules (Krai)"),
    ("v1.1", "nucleo-g0b1re", "hale", "closed/bosch/results/NUCLEO_G0B1RE", "Bosch HALE 1.0"),
]

THROUGHPUT = re.compile(r"Median throughput is\s+([0-9.]+)\s+inf\./sec\.")
ENERGY = re.compile(r"Median energy cost is\s+([0-9.]+)\s+uJ/inf\.")


class Repo:
    def __init__(self, path: Path):
        self.path = path
        bare = not (path / ".git").exists() and (path / "HEAD").exists()
        self.git = ["git", "--git-dir", str(path)] if bare else ["git", "-C", str(path)]
        self.files = subprocess.run([*self.git, "ls-tree", "-r", "--name-only", "HEAD"], check=True,
                                    capture_output=True, text=True).stdout.splitlines()

    def read(self, name: str) -> str:
        return subprocess.run([*self.git, "show", f"HEAD:{name}"], check=True, capture_output=True,
                              text=True).stdout


def _median(pattern: re.Pattern, text: str) -> float | None:
    found = pattern.findall(text)
    return float(found[-1]) if found else None


def results(repo: Repo, directory: str, benchmark: str) -> dict:
    """The benchmark's figures: performance from its performance run, energy from its energy run (any
    directory beside ``performance`` whose results state a median energy: one submission spells it "enegy")."""
    out: dict = {}
    prefix = f"{directory}/{benchmark}/"
    for name in repo.files:
        if not name.startswith(prefix) or not name.endswith("results.txt") or "/accuracy/" in name:
            continue
        text = repo.read(name)
        energy = _median(ENERGY, text)
        if "/performance/" in name:
            out["throughput"] = _median(THROUGHPUT, text)
            out["performance_file"] = name
        elif energy is not None:
            out["energy_uj"] = energy
            out["energy_run_throughput"] = _median(THROUGHPUT, text)
            out["energy_file"] = name
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--v1.0", dest="v10", type=Path, required=True)
    parser.add_argument("--v1.1", dest="v11", type=Path, required=True)
    args = parser.parse_args(argv)
    repos = {"v1.0": Repo(args.v10), "v1.1": Repo(args.v11)}
    lines = [
        "# MLPerf Tiny closed-division results of the catalogue's boards, one entry per submission.",
        "# Generated by scripts/mlperf_tiny_results.py from mlcommons/tiny_results_v1.0 and _v1.1 (do not edit):",
        "# throughput = the runner's median inferences/s of performance/results.txt; energy_uj = its median",
        "# energy per inference and energy_run_throughput the throughput of that energy run (energy mode).",
        "# Round v1.0 calibrates the engine profiles (learncost.calibrate); v1.1 only tests them.",
    ]
    for rnd, board, engine, directory, engine_name in SUBMISSIONS:
        lines += [f"- round: {rnd}", f"  board: {board}", f"  engine: {engine}", f"  engine_name: {engine_name}",
                  f"  repository: mlcommons/tiny_results_{rnd}", f"  directory: {directory}", "  results:"]
        for b in BENCHMARKS:
            r = results(repos[rnd], directory, b)
            if r.get("throughput") is None:
                continue
            fields = [f"throughput: {r['throughput']}"]
            if "energy_uj" in r:
                fields += [f"energy_uj: {r['energy_uj']}", f"energy_run_throughput: {r['energy_run_throughput']}"]
            lines.append(f"    {b}: {{{', '.join(fields)}}}")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
