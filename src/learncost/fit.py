"""Does a procedure's RAM fit a board's SRAM, and its parameters the board's flash?

RAM is the row's figure under its setup and memory accounting (the paper's: activations +
parameters in training, activations in inference); flash must hold the parameters in both phases
(the model is stored before it is trained), and PEPITA's F where the setup stores it there.
Capacities are the datasheets' KiB (1 KB = 1024 B). A margin is capacity minus need: negative
when the board misses by that many bytes. Unknown capacities give ``None`` verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass

from .catalog import MCU


@dataclass(frozen=True)
class Fit:
    ram_bytes: int
    sram_bytes: int | None
    ram_margin_bytes: int | None
    params_bytes: int
    flash_bytes: int | None
    flash_margin_bytes: int | None
    flash_need_bytes: int = 0

    @property
    def ram_fits(self) -> bool | None:
        return None if self.ram_margin_bytes is None else self.ram_margin_bytes >= 0

    @property
    def flash_fits(self) -> bool | None:
        return None if self.flash_margin_bytes is None else self.flash_margin_bytes >= 0

    @property
    def fits(self) -> bool | None:
        if self.ram_fits is False or self.flash_fits is False:
            return False
        if self.ram_fits is None or self.flash_fits is None:
            return None
        return True

    def verdict(self) -> str:
        """'yes', 'no: RAM +N B, flash +M B' (what it misses by), 'RAM yes, flash unknown' (the capacity
        that is known answers for itself) or 'unknown'."""
        if self.fits is None and self.ram_fits is not False and self.flash_fits is not False:
            if self.ram_fits:
                return "RAM yes, flash unknown"
            if self.flash_fits:
                return "flash yes, RAM unknown"
            return "unknown"
        if self.fits:
            return "yes"
        misses = []
        if self.ram_fits is False:
            misses.append(f"RAM +{-self.ram_margin_bytes:,} B")
        if self.flash_fits is False:
            misses.append(f"flash +{-self.flash_margin_bytes:,} B")
        return "no: " + ", ".join(misses)

    def to_dict(self) -> dict:
        return {"ram_bytes": self.ram_bytes, "sram_bytes": self.sram_bytes, "ram_fits": self.ram_fits,
                "ram_margin_bytes": self.ram_margin_bytes, "params_bytes": self.params_bytes,
                "flash_bytes": self.flash_bytes, "flash_fits": self.flash_fits,
                "flash_margin_bytes": self.flash_margin_bytes, "flash_need_bytes": self.flash_need_bytes,
                "fits": self.fits}


def check(ram_bytes: int, params_bytes: int, mcu: MCU, *, flash_need: int | None = None) -> Fit:
    """``flash_need``: what flash must hold, when more than the parameters (F stored in flash)."""
    need = params_bytes if flash_need is None else flash_need
    sram, flash = mcu.sram_bytes, mcu.flash_bytes
    return Fit(ram_bytes, sram, None if sram is None else sram - ram_bytes,
               params_bytes, flash, None if flash is None else flash - need, need)


def time_verdict(value: float | None, span: list[float] | None, budget: float | None, unit: str = "") -> str | None:
    """A time budget (per-sample ms, or training hours) against a figure and the range its engine's calibration
    supports: 'yes' when even the high end is within it, 'no' when even the low end is over, 'maybe' when the
    range straddles it; None without a budget or a figure. A figure with no range is its own range."""
    if budget is None or value is None:
        return None
    lo, hi = span or (value, value)
    if hi <= budget:
        return "yes"
    if lo > budget:
        return f"no: {lo:.3g}-{hi:.3g} {unit} > {budget:g}" if hi != lo else f"no: {lo:.3g} {unit} > {budget:g}"
    return f"maybe: {lo:.3g}-{hi:.3g} {unit}"
