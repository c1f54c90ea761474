"""Which activation buffers a running procedure really holds at the same time.

The reference procedures register each tensor they produce under the learncost buffer it
stands for (a layer's output, in the clean, modulated or recomputed pass) and call
``sample()`` after every step. A buffer is live while any storage registered for it is still
alive -- held by the procedure's own variables or saved by autograd for a backward pass --
so the tracker measures what the implementation keeps, not what it was told to keep.
Sizes are the learncost buffer's bytes (INT8 elements in the paper's setting), not the
float32 the reference computes in.

Error buffers (gradients or deltas with an activation's shape) are tracked beside the
activations but apart: the paper's memory rules count activations only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch.multiprocessing.reductions import StorageWeakRef

from ..memory import Buffers

Key = tuple[str, str]  # (buffer, pass tag); errors use the tag "error"


@dataclass
class Sample:
    step: str
    activations: int
    errors: int
    live: tuple[Key, ...]


@dataclass
class ActivationTracker:
    buffers: Buffers
    owner: dict[str, str]  # layer -> buffer it lives in (transient layers read through)
    _refs: dict[Key, list] = field(default_factory=dict)
    peak: Sample | None = None
    peak_with_errors: Sample | None = None

    def hold(self, layer: str, tag: str, tensor) -> None:
        key = (self.owner[layer], tag)
        self._refs.setdefault(key, []).append(StorageWeakRef(tensor.untyped_storage()))

    def hold_error(self, layer: str, tensor) -> None:
        self.hold(layer, "error", tensor)

    def forget(self, layer: str, tag: str) -> None:
        """The buffer's storage now stands for something else (an in-place rewrite)."""
        self._refs.pop((self.owner[layer], tag), None)

    def live(self) -> list[Key]:
        for key in [k for k, refs in self._refs.items() if all(r.expired() for r in refs)]:
            del self._refs[key]
        return list(self._refs)

    def sample(self, step: str) -> Sample:
        live = self.live()
        acts = sum(self.buffers.sizes[b] for b, tag in live if tag != "error")
        errs = sum(self.buffers.sizes[b] for b, tag in live if tag == "error")
        s = Sample(step, acts, errs, tuple(live))
        if self.peak is None or acts > self.peak.activations:
            self.peak = s
        if self.peak_with_errors is None or acts + errs > self.peak_with_errors.activations + self.peak_with_errors.errors:
            self.peak_with_errors = s
        return s
