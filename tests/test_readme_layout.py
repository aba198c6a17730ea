"""The README's "What is where" table matches the tree: every path it names exists, every folder and top-level
module of the package is named, and every module named inside a folder's row is a file of that folder."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _rows() -> list[tuple[list[str], str]]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## What is where", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = line.split("|")
        if len(cells) >= 4 and "`" in cells[1]:
            rows.append((re.findall(r"`([^`]+)`", cells[1]), cells[2]))
    return rows


def test_every_named_path_exists():
    rows = _rows()
    assert rows, "README.md has no 'What is where' table"
    for paths, _ in rows:
        for path in paths:
            assert (ROOT / path).exists(), f"README names {path}, which is not in the tree"


def test_every_folder_and_top_level_module_is_named():
    named = {p.rstrip("/") for paths, _ in _rows() for p in paths}
    package = ROOT / "jdvae"
    folders = {f"jdvae/{d.name}" for d in package.iterdir() if d.is_dir() and (d / "__init__.py").exists()}
    folders |= {f"jdvae/{d.parent.name}/{d.name}" for d in package.glob("*/*") if d.is_dir() and (d / "__init__.py").exists()}
    modules = {f"jdvae/{f.name}" for f in package.glob("*.py") if f.name not in ("__init__.py", "__main__.py")}
    missing = sorted((folders | modules) - named - {"jdvae/vae/nets"})  # nets/ is named inside vae/'s row
    assert not missing, f"README's 'What is where' does not name {missing}"


def test_modules_named_in_a_folder_row_are_its_files():
    for paths, what in _rows():
        if len(paths) != 1 or not paths[0].endswith("/"):
            continue
        folder = ROOT / paths[0]
        for name in re.findall(r"`(\w+\.py)`", what):
            assert (folder / name).exists(), f"README's row for {paths[0]} names {name}, not in that folder"
        listed = set(re.findall(r"`(\w+\.py)`", what))
        if listed:  # a row that lists its modules lists them all
            files = {f.name for f in folder.glob("*.py") if f.name != "__init__.py"}
            assert files <= listed, f"README's row for {paths[0]} leaves out {sorted(files - listed)}"
