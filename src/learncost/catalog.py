"""Hardware and workloads, read from the package's data files."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

from .errors import LearncostError, UnknownNameError
from .packaged import parsed


def _data(name: str):
    return parsed("data", "hardware", name)


@dataclass(frozen=True)
class Measurement:
    """A board's published inference throughput, one figure per MLPerf Tiny benchmark."""

    round: str
    results: str  # where each benchmark's figure is, with {benchmark} in the path
    throughput: tuple[tuple[str, float], ...]  # (benchmark, median inferences per second)


#: MLPerf Tiny benchmark ids are the built-in model ids
@lru_cache(maxsize=None)
def forward_macc(model_id: str) -> int:
    """Forward MACC of a built-in model, the denominator of a derived cycles/MACC."""
    from .evaluate import Evaluator
    from .zoo import load_model

    return sum(c["forward"] for c in Evaluator(load_model(model_id), "paper").costs)


@dataclass(frozen=True)
class MCU:
    id: str
    name: str
    clock_mhz: float
    cycles: float | None = None  # cycles/MACC as stated (the paper's boards, a custom MCU)
    core: str | None = None
    part: str | None = None
    sram_kb: float | None = None  # KiB, as datasheets count them
    flash_kb: float | None = None
    engine: str | None = None
    source: str | None = None
    measured: Measurement | None = None

    def derivation(self) -> dict[str, float]:
        """Per benchmark: clock / throughput / forward MACC of the built-in model = cycles per MACC."""
        if self.measured is None:
            return {}
        return {b: self.clock_mhz * 1e6 / thr / forward_macc(b) for b, thr in self.measured.throughput}

    @cached_property
    def cycles_per_macc(self) -> float | None:
        """Stated, or the median over the measured benchmarks; None when neither is known."""
        if self.cycles is not None:
            return self.cycles
        values = self.derivation()
        import statistics

        return statistics.median(values.values()) if values else None

    @property
    def sram_bytes(self) -> int | None:
        return None if self.sram_kb is None else int(self.sram_kb * 1024)

    @property
    def flash_bytes(self) -> int | None:
        return None if self.flash_kb is None else int(self.flash_kb * 1024)

    def latency_ms(self, macc: int) -> float | None:
        """Per-sample latency: MACC x cycles/MACC / clock  (sheet C241 = 1e6*C197*C229/B229*1e3);
        None for a board whose cycles/MACC or clock is unknown."""
        if self.cycles_per_macc is None or not self.clock_mhz:
            return None
        return macc * self.cycles_per_macc / (self.clock_mhz * 1e6) * 1e3


@dataclass(frozen=True)
class Dataset:
    id: str
    name: str
    epochs: int
    samples: int
    source: str | None = None

    def train_hours(self, latency_ms: float | None) -> float | None:
        """Training time: latency x epochs x samples / 3600  (sheet C250 = C241/1e3*B233*C233/3600)."""
        if latency_ms is None:
            return None
        return latency_ms / 1e3 * self.epochs * self.samples / 3600

    def train_energy_wh(self, energy_mj: float | None) -> float | None:
        """Energy of the run: mJ per sample x epochs x samples / 3.6e6 (mJ per Wh)."""
        if energy_mj is None:
            return None
        return energy_mj * self.epochs * self.samples / 3.6e6


#: the benchmarks whose median is a board's whole-model cycles/MACC (the autoencoder, dense layers only,
#: is fitted by the engine profiles but kept out of the one-number constant the catalogue has always had)
CONSTANT_BENCHMARKS = ("kws", "vww", "ic")


@dataclass(frozen=True)
class Submission:
    """One MLPerf Tiny closed-division submission of a catalogue board (``measurements.yaml``)."""

    round: str  # "v1.0" calibrates, later rounds test
    board: str
    engine: str  # the engine profile id
    engine_name: str
    repository: str
    directory: str
    results: dict  # benchmark -> {throughput, energy_uj?, energy_run_throughput?}

    def source(self, benchmark: str) -> str:
        return f"{self.repository} {self.directory}/{benchmark}/performance/results.txt"


@lru_cache(maxsize=None)
def submissions() -> tuple[Submission, ...]:
    return tuple(Submission(**row) for row in _data("measurements.yaml"))


def _mcu(row: dict) -> MCU:
    row = dict(row)
    row["cycles"] = row.pop("cycles_per_macc", None)
    if "measured" in row:
        m = row["measured"]
        rnd = m["round"].split()[2]  # "MLPerf Tiny v1.0 closed"
        sub = next(s for s in submissions() if (s.board, s.engine, s.round) == (row["id"], m["profile"], rnd))
        row["measured"] = Measurement(m["round"], m["results"], tuple(
            (b, sub.results[b]["throughput"]) for b in CONSTANT_BENCHMARKS if b in sub.results))
    return MCU(**row)


@lru_cache(maxsize=None)
def mcus() -> dict[str, MCU]:
    return {row["id"]: _mcu(row) for row in _data("mcus.yaml")}


@lru_cache(maxsize=None)
def datasets() -> dict[str, Dataset]:
    return {row["id"]: Dataset(**row) for row in _data("datasets.yaml")}


def _id(what: str, name) -> str:
    """An id as given in a spec or by the API: text (a spec's ``dataset: 1`` is not an id)."""
    if not isinstance(name, str):
        raise LearncostError(f"a {what} id is text, got {type(name).__name__} {str(name)[:40]}",
                             code=f"LC-UNKNOWN-{what.upper()}")
    return name


def get_mcu(name: str) -> MCU:
    name = _id("MCU", name)
    table = mcus()
    if name.lower() not in table:
        raise UnknownNameError("MCU", name, list(table))
    return table[name.lower()]


def get_dataset(name: str) -> Dataset:
    name = _id("dataset", name)
    table = datasets()
    if name.lower() not in table:
        raise UnknownNameError("dataset", name, list(table))
    return table[name.lower()]


def _positive(**values: float | None) -> None:
    for flag, value in values.items():
        if value is not None and value <= 0:
            raise LearncostError(f"--{flag.replace('_', '-')} must be positive, got {value:g}", code="LC-OPTION")


def custom_mcu(clock_mhz: float | None, cycles_per_macc: float | None,
               sram_kb: float | None = None, flash_kb: float | None = None) -> MCU:
    """A board from the command line, with what the question needs: a latency needs the clock and
    cycles/MACC, a RAM fit the SRAM, a flash fit the flash; what is not given stays unknown."""
    _positive(clock_mhz=clock_mhz, cycles_per_macc=cycles_per_macc, sram_kb=sram_kb, flash_kb=flash_kb)
    parts = [f"{clock_mhz:g} MHz" if clock_mhz else None, f"{cycles_per_macc:g} cycles/MACC" if cycles_per_macc else None,
             f"{sram_kb:g} KB SRAM" if sram_kb else None, f"{flash_kb:g} KB flash" if flash_kb else None]
    return MCU(id="custom", name="custom " + ", ".join(p for p in parts if p), clock_mhz=clock_mhz,  # type: ignore[arg-type]
               cycles=cycles_per_macc, sram_kb=sram_kb, flash_kb=flash_kb, source="command line")


def override_mcu(mcu: MCU, clock_mhz: float | None, cycles_per_macc: float | None,
                 sram_kb: float | None = None, flash_kb: float | None = None) -> MCU:
    """A catalogue board with the command line's values in place of its own (it keeps its id); a stated
    cycles/MACC makes the paper's one-number model time it (``engines.default_engine``)."""
    from dataclasses import replace

    _positive(clock_mhz=clock_mhz, cycles_per_macc=cycles_per_macc, sram_kb=sram_kb, flash_kb=flash_kb)
    given = {k: v for k, v in (("clock_mhz", clock_mhz), ("cycles", cycles_per_macc), ("sram_kb", sram_kb),
                               ("flash_kb", flash_kb)) if v is not None}
    what = ", ".join(f"{k.replace('cycles', 'cycles/MACC')} {v:g}" for k, v in given.items())
    return replace(mcu, **given, source=f"{mcu.source}; overridden on the command line: {what}")


def workload(dataset: Dataset | None, epochs: int | None, samples: int | None) -> Dataset | None:
    """The dataset with ``--epochs``/``--samples`` applied; both are needed without a dataset."""
    for flag, value in (("--epochs", epochs), ("--samples", samples)):
        if value is not None and value <= 0:
            raise LearncostError(f"{flag} must be positive, got {value}")
    if dataset is None:
        if epochs is None and samples is None:
            return None
        if epochs is None or samples is None:
            raise LearncostError("without a dataset, give both --epochs and --samples")
        return Dataset(id="custom", name="custom", epochs=epochs, samples=samples, source="command line")
    if epochs is None and samples is None:
        return dataset
    return Dataset(id=dataset.id, name=dataset.name, epochs=epochs or dataset.epochs,
                   samples=samples or dataset.samples, source=f"{dataset.source}; overridden on the command line")
