"""pyproject.toml, environment.yml and the README describe the same environment, and it is the one installed."""
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10, which the README admits
    tomllib = pytest.importorskip("tomli", reason="on Python 3.10 pyproject.toml is read with tomli (pip install tomli)")

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


def conda_python(text: str) -> SpecifierSet:
    """environment.yml's `python` dependency as a PEP 440 specifier: conda's `python=3.11` means 3.11.*."""
    (spec,) = [m.group(1).replace(" ", "") for m in re.finditer(r"^\s*-\s*python\s*([=<>!~].*)?$", text, re.M)] or [""]
    parts = [f"=={p[1:]}.*" if re.fullmatch(r"=[\d.]+", p) else p for p in spec.split(",") if p]
    return SpecifierSet(",".join(parts))


def readme_minimum() -> Version:
    """The oldest Python the README says the project needs: "`python3` (3.10 or newer)"."""
    found = re.findall(r"python3`? \((\d+\.\d+) or newer\)", (ROOT / "README.md").read_text())
    assert len(found) == 1, f"the README should name the oldest Python once, as '(3.X or newer)': {found}"
    return Version(found[0])


def project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def test_the_conda_file_lists_what_pyproject_declares():
    declared = project()["dependencies"] + project()["optional-dependencies"]["test"]
    conda = [r for r in pip_section((ROOT / "environment.yml").read_text()) if not r.startswith("-e")]
    assert sorted(conda) == sorted(declared), set(conda) ^ set(declared)


def test_every_file_admits_the_pythons_the_readme_promises_and_the_one_running():
    """The README's oldest Python is pyproject's lower bound; pyproject and environment.yml admit it, the
    interpreter running the tests and the newer ones alike (no file narrows what the README says)."""
    oldest = readme_minimum()
    requires = SpecifierSet(project()["requires-python"])
    conda = conda_python((ROOT / "environment.yml").read_text())
    running = Version(".".join(map(str, sys.version_info[:3])))
    for name, spec in (("pyproject.toml requires-python", requires), ("environment.yml python", conda)):
        assert oldest in spec, f"{name} {spec} refuses Python {oldest}, which the README says is enough"
        assert running in spec, f"{name} {spec} refuses the running Python {running}"
        assert Version(f"{oldest.major}.{oldest.minor + 3}.0") in spec, f"{name} {spec} refuses newer Pythons"
    assert Version(f"{oldest.major}.{oldest.minor - 1}.99") not in requires, \
        f"pyproject.toml admits Pythons older than the README's {oldest}"


def test_the_pinned_torchvision_accepts_the_pinned_torch():
    """torch and torchvision come in matched pairs: the torchvision pinned must declare the torch pinned as its own."""
    pins = {_name(r): Requirement(r) for r in project()["dependencies"] if "==" in r}
    torch_pin = next(iter(pins["torch"].specifier)).version
    vision_pin = next(iter(pins["torchvision"].specifier)).version
    if metadata.version("torchvision").split("+")[0] != vision_pin:
        pytest.skip(f"torchvision {metadata.version('torchvision')} is installed, not the pinned {vision_pin}")
    wanted = [Requirement(r) for r in metadata.requires("torchvision") or () if _name(r) == "torch"]
    assert wanted and all(Version(torch_pin) in r.specifier for r in wanted), (torch_pin, [str(r) for r in wanted])


def test_the_environment_holds_every_declared_dependency_at_its_pin():
    """What pyproject.toml declares is installed, and the == pins (torch, torchvision) are the versions running."""
    for requirement in project()["dependencies"] + project()["optional-dependencies"]["test"]:
        name = _name(requirement)
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{name} is declared in pyproject.toml but not installed; run `make venv` (pip install -e '.[test]')")
        if "==" in requirement:
            assert installed.split("+")[0] == requirement.split("==")[1].strip(), (name, installed)
