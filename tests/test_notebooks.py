"""The notebooks are the source: the package must agree with them, and nbs/ is committed clean."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

NOTEBOOKS = sorted((ROOT / "nbs").glob("*.ipynb"))
# The notebooks that dvc.yaml runs as stages (papermill needs their `parameters` cell).
STAGE_NOTEBOOKS = sorted(
    {
        ROOT / "nbs" / re.search(r"nbs/(\S+\.ipynb)", s["cmd"])[1]
        for s in yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"].values()
        if re.search(r"nbs/\S+\.ipynb", s["cmd"])
    }
)


def _copy_project(dest: Path) -> Path:
    for name in ("settings.ini", "setup.py", "pyproject.toml", "dvc.yaml"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "nbs", dest / "nbs")
    shutil.copytree(ROOT / "credit_score", dest / "credit_score", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def test_nbdev_export_leaves_the_package_unchanged(tmp_path):
    copy = _copy_project(tmp_path)
    subprocess.run(["nbdev_export"], cwd=copy, check=True, capture_output=True, timeout=120)
    changed = [
        p.name
        for p in sorted((ROOT / "credit_score").glob("*.py"))
        if p.read_text() != (copy / "credit_score" / p.name).read_text()
    ]
    new = sorted({p.name for p in (copy / "credit_score").glob("*.py")} - {p.name for p in (ROOT / "credit_score").glob("*.py")})
    assert not changed and not new, f"notebooks and package disagree: run 'make export' ({changed or new})"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(nb):
    cells = json.loads(nb.read_text())["cells"]
    dirty = [i for i, c in enumerate(cells) if c.get("outputs") or c.get("execution_count")]
    assert not dirty, f"{nb.name}: cells {dirty} have outputs; run 'make export' (it cleans)"


@pytest.mark.parametrize("nb", STAGE_NOTEBOOKS, ids=lambda p: p.name)
def test_papermill_parameters_tag_survives_nbdev_clean(nb, tmp_path):
    copy = _copy_project(tmp_path)
    subprocess.run(["nbdev_clean", "--fname", f"nbs/{nb.name}"], cwd=copy, check=True, capture_output=True, timeout=60)
    cells = json.loads((copy / "nbs" / nb.name).read_text())["cells"]
    assert sum("parameters" in c["metadata"].get("tags", []) for c in cells) == 1, f"{nb.name}: one parameters cell"


def test_nbdev_test_runs_every_notebook():
    result = subprocess.run(["nbdev_test", "--n_workers", "2"], cwd=ROOT / "nbs", capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_modules_import_in_a_fresh_process_without_side_effects(tmp_path):
    modules = [f"credit_score.{p.stem}" for p in sorted((ROOT / "credit_score").glob("*.py")) if not p.stem.startswith("_")]
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)"
    result = subprocess.run([sys.executable, "-c", code, *modules], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert not list(tmp_path.iterdir()), "importing the package must not create files"
