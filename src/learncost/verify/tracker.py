"""Which tensors a running procedure really holds at the same time, by role.

The reference procedures register each tensor they produce under a name (a learncost buffer,
its modulated copy, an error, a mask, an input slice, a gradient buffer...) and a role, and call
``sample()`` after every step. A registration is live while any storage registered for it is
still alive -- held by the procedure's own variables -- so the tracker measures what the
implementation keeps, not what it was told to keep.

Sizes: an activation buffer counts at the setup's precision for the learncost buffer it stands
for (a padding or reshape output is its input's buffer, as the memory rules read through them);
every other tensor counts its own elements (the real tensor's, batch included) at its role's
bits. One storage registered under two names (an add passing its error to both inputs) counts
once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch.multiprocessing.reductions import StorageWeakRef

from ..layers import FLASH_KINDS
from ..sizes import nbytes


@dataclass
class Sample:
    step: str
    by_role: dict[str, int]
    live: tuple[tuple[str, str, int], ...]  # (name, role, bytes)

    def bytes(self, counted=lambda role: True) -> int:
        return sum(b for role, b in self.by_role.items() if counted(role))


@dataclass
class _Entry:
    role: str
    bytes: int
    refs: list = field(default_factory=list)


@dataclass
class Tracker:
    sizes: Any  # learncost.sizes.Sizes of the model under the setup
    samples: list[Sample] = field(default_factory=list)
    _entries: dict[str, _Entry] = field(default_factory=dict)

    def hold(self, name: str, role: str, tensor, *, nbytes_: int | None = None, samples: int = 1) -> None:
        """Register ``tensor`` under ``name``: an activation buffer (its learncost size) when the
        role is activation or saved and ``name`` is a buffer, else its own elements at the role's bits. A constant
        (``layers.FLASH_KINDS``) is read from flash: never held."""
        layer = self.sizes.model.by_name.get(self._buffer(name))
        if layer is not None and layer.kind in FLASH_KINDS:
            return
        if nbytes_ is None:
            if role in ("activation", "saved") and self._is_buffer(name):
                nbytes_ = self.sizes.activation(self._buffer(name), role, samples)
            else:
                nbytes_ = nbytes(tensor.numel(), self.sizes.setup.bits(role))
        entry = self._entries.setdefault(name, _Entry(role, int(nbytes_)))
        entry.refs.append(StorageWeakRef(tensor.untyped_storage()))

    def _buffer(self, name: str) -> str:
        return name.removesuffix(" (modulated)")

    def _is_buffer(self, name: str) -> bool:
        return self._buffer(name) in self.sizes.bufs.owner

    def forget(self, name: str) -> None:
        """The storage now stands for something else (an in-place rewrite)."""
        self._entries.pop(name, None)

    def live(self) -> list[tuple[str, _Entry]]:
        for name in [n for n, e in self._entries.items() if all(r.expired() for r in e.refs)]:
            del self._entries[name]
        return list(self._entries.items())

    def sample(self, step: str) -> Sample:
        seen: set[int] = set()
        live = []
        for name, entry in self.live():
            storages = {r.cdata for r in entry.refs if not r.expired()}
            if storages and storages <= seen and entry.role not in ("activation", "saved"):
                continue  # another name already counted this storage
            seen |= storages
            live.append((name, entry.role, entry.bytes))
        by_role: dict[str, int] = {}
        for _, role, b in live:
            by_role[role] = by_role.get(role, 0) + b
        s = Sample(step, by_role, tuple(live))
        self.samples.append(s)
        return s

    def peak(self, counted=lambda role: True) -> Sample:
        """The sample holding the most counted bytes (the first of equals)."""
        return max(self.samples, key=lambda s: s.bytes(counted))
