"The package's shape: small modules, each exported from its own notebook, serving apart from training."

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "credit_score"
MAX_LINES = 400


def _modules():
    return sorted(p for p in PACKAGE.rglob("*.py") if p.name not in ("__init__.py", "_modidx.py"))


def test_no_module_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by concern): {long}"


def test_every_module_is_exported_from_one_notebook():
    "Each module names the notebook it comes from, and that notebook exists (nothing hand-written in the package)."
    for p in _modules():
        head = p.read_text().split("\n", 5)
        source = next((line for line in head if "File to edit:" in line), None)
        assert source, f"{p.relative_to(ROOT)} is not exported by nbdev"
        nb = (p.parent / source.split("File to edit:")[1].strip().rstrip(".")).resolve()
        assert nb.exists(), f"{p.relative_to(ROOT)} names {nb}, which does not exist"


def test_serving_never_imports_training():
    "credit_score.serving and credit_score.api import nothing from train, evaluate, register or eda (read from the source)."
    banned = {"train", "evaluate", "register", "eda", "matplotlib"}  # (mlflow only lazily, for non-proxied artifact stores)
    for p in [PACKAGE / "api.py", PACKAGE / "model.py", PACKAGE / "modelfile.py", *sorted((PACKAGE / "serving").glob("*.py"))]:
        for node in ast.walk(ast.parse(p.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom):
                names = [(node.module or "").split(".")[-1], *(a.name for a in node.names)] if node.level else [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            hits = {n.split(".")[0] for n in names} & banned
            assert not hits, f"{p.relative_to(ROOT)} imports {hits}"
