"""pyproject.toml and environment.yml describe the same environment, and it is the one installed."""
import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[=<>!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower()


def pip_section(text: str) -> list[str]:
    lines, inside = [], False
    for line in text.splitlines():
        if re.match(r"^\s*- pip:\s*$", line):
            inside = True
            continue
        if inside:
            m = re.match(r"^\s+- (.+)$", line)
            if not m:
                break
            lines.append(m.group(1).strip())
    return lines


def test_pyproject_and_environment_yml_agree():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["test"]
    conda = [r for r in pip_section((ROOT / "environment.yml").read_text()) if not r.startswith("-e")]
    assert sorted(conda) == sorted(wanted), set(conda) ^ set(wanted)
    assert "python=3.11" in (ROOT / "environment.yml").read_text()
    assert "torch==2.14.1" in wanted and "torchvision==0.29.1" in wanted


def test_the_environment_holds_every_declared_dependency_at_its_pin():
    """What pyproject.toml declares is installed, and the == pins (torch, torchvision) are the versions running."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"] + project["optional-dependencies"]["test"]:
        name = _name(requirement)
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{name} is declared in pyproject.toml but not installed; run `make venv` (pip install -e '.[test]')")
        if "==" in requirement:
            assert installed.split("+")[0] == requirement.split("==")[1].strip(), (name, installed)
