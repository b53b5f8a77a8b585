"""The layering of docs/architecture.md, as the import contracts state it, names every module.

``lint-imports`` (run by ``make lint``) checks the contracts; this test makes sure that no
module escapes them by being in no layer at all, and that the contracts catch an import
that goes upwards.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "remit"


def _contracts() -> list[dict]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return config["tool"]["importlinter"]["contracts"]


def _layered_modules() -> set[str]:
    [layers] = [c for c in _contracts() if c["id"] == "layers"]
    names: set[str] = set()
    for layer in layers["layers"]:
        names.update(n for n in re.split(r"[\s:|]+", layer) if n)
    return names


def _modules() -> set[str]:
    found = set()
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC.parent).with_suffix("")
        parts = relative.parts
        if "migrations" in parts or parts[-1] == "__init__":
            continue
        found.add(".".join(parts))
    return found


def test_every_module_has_a_layer():
    layered = _layered_modules()
    covered = {m for m in _modules() if any(m == n or m.startswith(n + ".") for n in layered)}
    assert sorted(_modules() - covered) == []
    assert (
        sorted(n for n in layered if not any(m == n or m.startswith(n + ".") for m in _modules()))
        == []
    )


@pytest.mark.slow
def test_an_upward_import_breaks_the_contracts(tmp_path):
    """A copy of the package in which an engine imports a service fails lint-imports."""
    copy = tmp_path / "src"
    subprocess.run(["cp", "-r", str(SRC.parent), str(copy)], check=True)
    rules = copy / "remit" / "ledger" / "rules.py"
    rules.write_text(rules.read_text(encoding="utf-8") + "\nfrom remit.ledger import service\n")
    (tmp_path / "pyproject.toml").write_text(
        (ROOT / "pyproject.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    lint = Path(sys.executable).with_name("lint-imports")
    env = {"PYTHONPATH": str(copy), "PATH": "/usr/bin:/bin"}
    broken = subprocess.run(
        [str(lint), "--no-cache"],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert broken.returncode == 1
    assert "remit.ledger.rules is not allowed to import remit.ledger.service" in broken.stdout
    assert "engines import no database or web code BROKEN" in broken.stdout
