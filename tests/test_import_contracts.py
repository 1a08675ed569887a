"""The import contracts of `make lint` hold for the tree, and a core module that imports the stream
layer breaks them (so the contract cannot pass vacuously)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def copy_tree(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "streams", tmp_path / "streams", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_tree_keeps_its_contracts(tmp_path: Path) -> None:
    result = lint_imports(copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line"),
    [
        ("plates/normalise.py", "import streams.kafka.clients"),
        ("pipeline/batch.py", "import aiokafka"),
        ("policy/store.py", "from streams.sim import demo"),
        ("kafka/replay.py", "from streams.sim import camera_feed"),  # the stream layer never uses the simulator
        ("audit/store.py", "import streams.kafka.clients"),  # the audit store is plain SQL: no Kafka, CLI, sim
    ],
)
def test_a_forbidden_import_breaks_the_contracts(tmp_path: Path, module: str, line: str) -> None:
    tree = copy_tree(tmp_path)
    with (tree / "streams" / module).open("a") as f:
        f.write(f"\n{line}  # noqa\n")
    result = lint_imports(tree)
    assert result.returncode != 0
    importer = "streams." + module.removesuffix(".py").replace("/", ".")
    imported = line.split()[1]
    assert f"{importer} -> {imported}" in result.stdout, result.stdout  # broken for this very import


def test_no_module_of_the_package_is_over_400_lines() -> None:
    sizes = {p.relative_to(ROOT): len(p.read_text().splitlines()) for p in (ROOT / "streams").rglob("*.py")}
    assert sizes and {p: n for p, n in sizes.items() if n > 400} == {}
