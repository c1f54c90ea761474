"""The package's data files in their precompiled form (``learncost.packaged``): what is kept equals
what validation gives, a change to the file derives it again, and a cache that cannot be kept or
read is only slower, never wrong."""

from __future__ import annotations

import marshal
import subprocess
import sys

import pytest

from learncost import packaged, zoo
from learncost import setups as S
from learncost.spec import model_from_data


@pytest.mark.parametrize("model_id", zoo.builtin_ids())
def test_a_builtin_model_from_its_kept_spec_equals_its_validated_build(model_id):
    # the reference: the YAML parsed and validated by pydantic now, built by the same builder
    validated = model_from_data(zoo.builtin_spec(model_id), origin=f"{model_id}.yaml")
    assert zoo._builtin(model_id) == validated
    assert zoo._builtin(model_id).parameters == validated.parameters


def test_every_preset_rebuilt_from_its_kept_fields_equals_its_validation():
    for name in S.preset_ids():
        origin = f"{name}.yaml"
        assert S._preset(name) == S.build(S._preset_data(name), origin), name
        assert S._preset(name).origin == origin


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "data.yaml"
    path.write_text("a: 1\nb: [2, 3]\n", encoding="utf-8")
    return path


def _counting(calls):
    def derive(text):
        calls.append(text)
        return packaged.load_yaml(text)
    return derive


def test_derived_once_then_read_back_until_the_file_changes(source):
    calls = []
    assert packaged.derived(source, "yaml", _counting(calls)) == {"a": 1, "b": [2, 3]}
    assert packaged.derived(source, "yaml", _counting(calls)) == {"a": 1, "b": [2, 3]}
    assert len(calls) == 1  # the second read came from __pycache__
    assert (source.parent / "__pycache__" / "data.yaml.yaml.marshal").is_file()
    source.write_text("a: 1\nb: [2, 4]\n", encoding="utf-8")  # same length, other bytes
    assert packaged.derived(source, "yaml", _counting(calls)) == {"a": 1, "b": [2, 4]}
    assert len(calls) == 2


def test_a_change_in_the_deriving_code_derives_again(source, monkeypatch):
    calls = []
    packaged.derived(source, "spec", _counting(calls), depends=("spec.py",))
    packaged.derived(source, "spec", _counting(calls), depends=("spec.py",))
    assert len(calls) == 1
    monkeypatch.setattr(packaged, "_fingerprint", lambda path: (0, 0))  # as if spec.py had been edited
    packaged.derived(source, "spec", _counting(calls), depends=("spec.py",))
    assert len(calls) == 2


@pytest.mark.parametrize("damage", [b"", b"\x00garbage", marshal.dumps(("another", "layout", 1))])
def test_a_damaged_cache_is_derived_again_and_replaced(source, damage):
    calls = []
    packaged.derived(source, "yaml", _counting(calls))
    cache = source.parent / "__pycache__" / "data.yaml.yaml.marshal"
    cache.write_bytes(damage)
    assert packaged.derived(source, "yaml", _counting(calls)) == {"a": 1, "b": [2, 3]}
    assert len(calls) == 2
    assert marshal.loads(cache.read_bytes())[1] == {"a": 1, "b": [2, 3]}


def test_a_directory_that_cannot_be_written_only_means_deriving_each_time(source, monkeypatch):
    from pathlib import Path

    def read_only(self, data):  # a read-only install: every write refused
        raise PermissionError(13, "Permission denied", str(self))
    monkeypatch.setattr(Path, "write_bytes", read_only)
    calls = []
    for _ in range(2):
        assert packaged.derived(source, "yaml", _counting(calls)) == {"a": 1, "b": [2, 3]}
    assert len(calls) == 2
    assert list((source.parent / "__pycache__").iterdir()) == []


def test_a_cache_write_that_fails_leaves_no_file(source, monkeypatch):
    def refuse(src, dst):
        raise OSError("no space left")
    monkeypatch.setattr(packaged.os, "replace", refuse)
    assert packaged.derived(source, "yaml", packaged.load_yaml) == {"a": 1, "b": [2, 3]}
    assert list((source.parent / "__pycache__").iterdir()) == []


def test_a_value_marshal_cannot_hold_is_returned_and_not_kept(source):
    value = packaged.derived(source, "odd", lambda text: {"when": object})
    assert value == {"when": object}
    assert not (source.parent / "__pycache__" / "data.yaml.odd.marshal").exists()


def test_the_paper_computation_imports_neither_yaml_nor_pydantic_once_its_data_is_kept():
    code = ("import sys; from learncost import paper; paper.compute(False); paper.compute(True); "
            "print(sorted(m for m in ('yaml', 'pydantic', 'typer') if m in sys.modules))")
    for _ in range(2):  # the first run may derive (a fresh checkout); the second reads what it kept
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
