"""Hardware and workloads, read from the package's data files."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from .errors import LearncostError, UnknownNameError


def load_yaml(text: str):
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(text, Loader=loader)


def _data(name: str):
    return load_yaml(resources.files("learncost").joinpath("data", "hardware", name).read_text("utf-8"))


@dataclass(frozen=True)
class MCU:
    id: str
    name: str
    clock_mhz: float
    cycles_per_macc: float
    core: str | None = None
    sram_kb: float | None = None
    flash_kb: float | None = None
    source: str | None = None

    def latency_ms(self, macc: int) -> float:
        """Per-sample latency: MACC x cycles/MACC / clock  (sheet C241 = 1e6*C197*C229/B229*1e3)."""
        return macc * self.cycles_per_macc / (self.clock_mhz * 1e6) * 1e3


@dataclass(frozen=True)
class Dataset:
    id: str
    name: str
    epochs: int
    samples: int
    source: str | None = None

    def train_hours(self, latency_ms: float) -> float:
        """Training time: latency x epochs x samples / 3600  (sheet C250 = C241/1e3*B233*C233/3600)."""
        return latency_ms / 1e3 * self.epochs * self.samples / 3600


@lru_cache(maxsize=None)
def mcus() -> dict[str, MCU]:
    return {row["id"]: MCU(**row) for row in _data("mcus.yaml")}


@lru_cache(maxsize=None)
def datasets() -> dict[str, Dataset]:
    return {row["id"]: Dataset(**row) for row in _data("datasets.yaml")}


def get_mcu(name: str) -> MCU:
    table = mcus()
    if name.lower() not in table:
        raise UnknownNameError("MCU", name, list(table))
    return table[name.lower()]


def get_dataset(name: str) -> Dataset:
    table = datasets()
    if name.lower() not in table:
        raise UnknownNameError("dataset", name, list(table))
    return table[name.lower()]


def custom_mcu(clock_mhz: float | None, cycles_per_macc: float | None) -> MCU:
    if clock_mhz is None or cycles_per_macc is None:
        raise LearncostError("a custom MCU needs both --clock-mhz and --cycles-per-macc")
    if clock_mhz <= 0 or cycles_per_macc <= 0:
        raise LearncostError("--clock-mhz and --cycles-per-macc must be positive")
    return MCU(id="custom", name=f"custom {clock_mhz:g} MHz, {cycles_per_macc:g} cycles/MACC",
               clock_mhz=clock_mhz, cycles_per_macc=cycles_per_macc, source="command line")


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
