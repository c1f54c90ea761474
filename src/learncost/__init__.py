"""learncost: what on-device learning costs on a microcontroller.

For a network and a learning procedure (BP, Forward-Forward, PEPITA, MEMPEPITA): the MACCs
of every operation, peak RAM, per-sample latency on an MCU and full training time.

    >>> import learncost
    >>> result = learncost.analyze("kws", procedures=["bp", "ff"])
    >>> result.row("bp", "training").macc
    7666544

Heavy libraries load only where used; importing this package stays light.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["analyze", "load_model", "load_spec", "from_torch", "verify", "paper", "sweep", "setups", "LearncostError",
           "__version__"]


def __dir__() -> list[str]:
    """The public names (lazy attributes included), for ``dir(learncost)`` and completion in notebooks."""
    return sorted(set(__all__) | {n for n in globals() if n.startswith("__")})


def __getattr__(name: str):
    # lazy, so that `import learncost` and the CLI start fast
    if name == "analyze":
        from .analysis import analyze

        return analyze
    if name == "load_model":
        from .zoo import load_model

        return load_model
    if name == "load_spec":
        from .spec import model_from_data

        def load_spec(data: dict, origin: str = "spec", **values):
            """Build a model from a spec already parsed into a dict, at the given parameter values.

                >>> import learncost
                >>> spec = {"name": "tiny", "classes": 2, "input": {"shape": [4]},
                ...         "layers": [{"kind": "dense", "units": 2}]}
                >>> learncost.load_spec(spec).layers[-1].weights
                8
            """
            return model_from_data(data, origin=origin, values=values)

        return load_spec
    if name == "from_torch":
        from .importers.torch_importer import load_module

        return load_module
    if name == "verify":
        from .verify import verify

        return verify
    if name in ("paper", "sweep", "setups"):
        import importlib

        return importlib.import_module(f"learncost.{name}")
    if name == "LearncostError":
        from .errors import LearncostError

        return LearncostError
    raise AttributeError(f"module 'learncost' has no attribute {name!r}")
