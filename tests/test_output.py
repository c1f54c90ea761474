"""``--output``: figures and text files written whole, or not at all."""

import json
import xml.etree.ElementTree as ET

import pytest

pytest.importorskip("matplotlib")

from conftest import run_cli  # noqa: E402


@pytest.mark.parametrize("args, name", [
    (("analyze", "vww", "--mcu", "disco-f746ng"), "vww.png"),
    (("paper",), "paper.svg"),
    (("fit", "kws", "--mcu", "nucleo-g474re"), "fit.pdf"),
])
def test_figures_are_well_formed(tmp_path, args, name):
    path = tmp_path / name
    r = run_cli(*args, "--output", str(path))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "" and f"wrote {path}" in r.stderr
    data = path.read_bytes()
    if name.endswith(".png"):
        import matplotlib.image as mpimg

        img = mpimg.imread(path)
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and img.shape[0] > 200 and img.shape[1] > 600
    elif name.endswith(".svg"):
        root = ET.fromstring(data)
        assert root.tag.endswith("svg") and len(list(root.iter())) > 100
    else:
        assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left beside it


def test_text_outputs_match_stdout(tmp_path):
    path = tmp_path / "kws.json"
    assert run_cli("analyze", "kws", "-p", "bp", "-o", str(path)).returncode == 0
    printed = run_cli("analyze", "kws", "-p", "bp", "-f", "json").stdout
    assert json.loads(path.read_text()) == json.loads(printed)
    md = tmp_path / "kws.md"
    assert run_cli("analyze", "kws", "-p", "bp", "-o", str(md)).returncode == 0
    assert md.read_text() == run_cli("analyze", "kws", "-p", "bp", "-f", "markdown").stdout


def test_never_overwrites_without_force(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("mine\n")
    r = run_cli("analyze", "kws", "-o", str(path))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--force" in r.stderr
    assert path.read_text() == "mine\n"
    assert run_cli("analyze", "kws", "-o", str(path), "--force").returncode == 0
    assert path.read_text().startswith("model,procedure,phase,macc")


@pytest.mark.parametrize("target, needle", [
    ("missing/dir/out.png", "directory"),
    ("out.docx", "unsupported extension .docx"),
    ("out", "unsupported extension (none)"),
])
def test_bad_output_paths(tmp_path, target, needle):
    r = run_cli("analyze", "kws", "-o", str(tmp_path / target))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and needle in r.stderr and "Traceback" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_breakdown_sums_to_the_row():
    import learncost

    a = learncost.analyze("ic")
    for r in a.rows:
        split = a.breakdown(r.procedure, r.phase)
        assert sum(sum(ops.values()) for ops in split.values()) == r.macc


@pytest.mark.parametrize("args", [
    ("analyze", "ic", "--mcu", "nucleo-l4r5zi"),
    ("paper",),
    ("sweep", "kws", "--param", "blocks=1:4:1", "--mcu", "nucleo-g474re"),
])
def test_html_page_is_self_contained_and_well_formed(tmp_path, args):
    import base64
    import io

    import matplotlib.image as mpimg

    path = tmp_path / "page.html"
    r = run_cli(*args, "-o", str(path))
    assert r.returncode == 0, r.stderr
    root = ET.parse(path).getroot()  # written as XHTML: an XML parser reads it
    ns = "{http://www.w3.org/1999/xhtml}"
    tables = list(root.iter(f"{ns}table"))
    assert len(tables) >= 2 and all(len(list(t.iter(f"{ns}tr"))) >= 2 for t in tables)
    images = list(root.iter(f"{ns}img"))
    assert len(images) == 1
    src = images[0].get("src")
    assert src.startswith("data:image/png;base64,")
    img = mpimg.imread(io.BytesIO(base64.b64decode(src.split(",", 1)[1])), format="png")
    assert img.shape[0] > 200 and img.shape[1] > 400
    # opens offline: nothing is fetched
    for el in root.iter():
        for attr in ("src", "href"):
            assert not (el.get(attr) or "").startswith(("http:", "https:", "//"))
    assert not list(root.iter(f"{ns}script")) and not list(root.iter(f"{ns}link"))
    headings = [h.text for h in root.iter(f"{ns}h2")]
    assert headings == ["Assumptions", "Procedures and memory rules", "Errata of the paper's sheet"]
    text = "".join(root.itertext())
    assert "No buffer reuse" in text
    first = tables[0]
    assert first.find(f"{ns}caption").text  # every table says what it is


def test_html_page_under_a_setup_states_that_setup(tmp_path):
    """Figures under a real setup are not the paper's: the page states the setup's fields, the tensor
    roles and the accountings, and neither the paper's assumptions nor its sheet's errata."""
    path = tmp_path / "page.html"
    r = run_cli("analyze", "mcunet-5fps", "-p", "bp", "--setup", "tte-mcunet-49kb", "--mcu", "disco-f746ng",
                "-o", str(path))
    assert r.returncode == 0, r.stderr
    root = ET.parse(path).getroot()
    ns = "{http://www.w3.org/1999/xhtml}"
    headings = [h.text for h in root.iter(f"{ns}h2")]
    assert headings == ["Setup", "Tensor roles", "Memory accountings", "Procedures"]
    text = "".join(root.itertext())
    assert "No buffer reuse" not in text and "Errata" not in text
    assert "update.weights.layers.24" in text and "setup tte-mcunet-49kb" in text
