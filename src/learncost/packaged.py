"""The package's own data files (built-in models, setup presets, boards, the paper's sheet), read
in a precompiled form.

At a cold start, parsing these YAML files and validating the built-in specs with pydantic cost
more than the paper's whole computation (PyYAML and pydantic were 40 % of `learncost paper`'s
start). As Python keeps a module's bytecode beside its source, learncost keeps what it derives
from a data file (the parsed YAML; a built-in model's validated spec; a preset's validated setup)
in ``__pycache__`` beside the file, as ``marshal`` data, under a key made of the file's bytes and
the source of the code that derives it. A change to either derives it again; a directory that
cannot be written (a read-only install) only means the derivation runs every time; a damaged or
foreign cache file is ignored and replaced. Users' own files never go through here.
"""

from __future__ import annotations

import marshal
import os
import sys
import zlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

#: bump when the layout of the cache files changes
FORMAT = 1


#: the package's directory (importlib.resources would say the same for an installed package, at 10 ms a start)
ROOT = Path(__file__).resolve().parent


def data_file(*parts: str) -> Path:
    """A file shipped in the package: ``data_file("data", "models", "kws.yaml")``."""
    return ROOT.joinpath(*parts)


def parsed(*parts: str) -> Any:
    """A shipped YAML file, parsed (libyaml's loader where PyYAML has it)."""
    return derived(data_file(*parts), "yaml", load_yaml)


def load_yaml(text: str) -> Any:
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def derived(source: Path, what: str, derive: Callable[[str], Any], depends: tuple[str, ...] = ()) -> Any:
    """``derive(text of source)``, or the value kept for the same source bytes and the same source of
    the modules ``depends`` names (paths inside the package, e.g. ``"spec.py"``). The value must be
    plain data (numbers, strings, lists, dicts, tuples): a value ``marshal`` cannot hold is derived
    every time."""
    raw = source.read_bytes()
    key = (FORMAT, _version(), what, len(raw), zlib.crc32(raw), *(_fingerprint(d) for d in depends))
    cache = source.parent / "__pycache__" / f"{source.name}.{what}.marshal"
    try:
        kept_key, value = marshal.loads(cache.read_bytes())
        if kept_key == key:
            return value
    except (OSError, EOFError, ValueError, TypeError):  # none yet, damaged, or another layout
        pass
    value = derive(raw.decode("utf-8"))
    _write(cache, key, value)
    return value


def _write(cache: Path, key: tuple, value: Any) -> None:
    """Written whole or not at all: a temporary file renamed over the old one."""
    try:
        blob = marshal.dumps((key, value))
    except ValueError:  # not plain data
        return
    tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
    try:
        cache.parent.mkdir(exist_ok=True)
        tmp.write_bytes(blob)
        os.replace(tmp, cache)
    except OSError:  # a read-only install
        try:
            tmp.unlink()
        except OSError:
            pass


@lru_cache(maxsize=None)
def _fingerprint(module_path: str) -> tuple[int, int]:
    raw = data_file(*module_path.split("/")).read_bytes()
    return len(raw), zlib.crc32(raw)


def _version() -> str:
    from . import __version__

    return f"{__version__} {sys.version_info[0]}.{sys.version_info[1]}"
