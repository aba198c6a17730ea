"""The numbered notebooks of the study, named in one place; the names of their executed copies; the parameters
each declares.

`jdvae reproduce` runs them in their order (notebooks/, 00 to 06) and writes each executed copy into
RUNS/notebooks/. Nothing here imports more than the standard library and jdvae.io.
"""
from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from jdvae.errors import JdvaeError
from jdvae.io import PROJECT_ROOT

FOLDER = PROJECT_ROOT / "notebooks"
DATA = "00_data.ipynb"
JUDGE = "01_judge.ipynb"
TRAIN = "02_train.ipynb"
TABLE = "03_table1.ipynb"
FIG2 = "04_fig2_swaps.ipynb"
FIG3 = "05_fig3_multilabel.ipynb"
EXPLORE = "06_explore.ipynb"
ALL = (DATA, JUDGE, TRAIN, TABLE, FIG2, FIG3, EXPLORE)
# The training notebook was 01_train before the judge came first; runs folders of earlier studies (and the
# manifest of the shipped one) name its executed copies 01_train_{run}.ipynb.
OLD_TRAIN = "01_train.ipynb"


def _number(notebook: str) -> str:
    return notebook.split("_", 1)[0]


def executed_training(run: str) -> str:
    """File name of the executed copy of one training: 02_train_{run}.ipynb."""
    return f"{Path(TRAIN).stem}_{run}.ipynb"


def executed_judge(folder: str) -> str:
    """File name of the executed copy of one judge: the notebook's number, then the judge's folder
    (01_judge.ipynb, 01_judge-s1.ipynb)."""
    return f"{_number(JUDGE)}_{folder}.ipynb"


def executed_names(name: str, judge: bool = False) -> tuple[str, ...]:
    """Every name a study has given the executed copy of the training `name` (or the judge in folder `name`),
    the current one first; earlier studies wrote 01_train_{run}.ipynb."""
    if judge:
        return (executed_judge(name),)
    return executed_training(name), f"{Path(OLD_TRAIN).stem}_{name}.ipynb"


def parameters(notebook: str | Path) -> dict[str, Any]:
    """The parameters a notebook declares and their defaults: the `name = literal` lines of its cell tagged
    `parameters` (papermill's), read with ast. `notebook`: a name in notebooks/ or a path."""
    path = FOLDER / notebook
    try:
        cells = json.loads(path.read_text())["cells"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise JdvaeError(f"cannot read the notebook {path} ({e}); restore notebooks/ from the repository") from None
    sources = ["".join(c["source"]) for c in cells if "parameters" in c.get("metadata", {}).get("tags", ())]
    if len(sources) != 1:
        raise JdvaeError(f"{path} has {len(sources)} cells tagged parameters; give it exactly one")
    try:
        body = ast.parse(sources[0]).body
    except SyntaxError as e:
        raise JdvaeError(f"{path}, parameters cell, line {e.lineno}: {e.msg}; write each parameter as e.g. "
                         f"seed = 0") from None
    declared: dict[str, Any] = {}
    for stmt in body:
        try:
            if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
                raise ValueError
            declared[stmt.targets[0].id] = ast.literal_eval(stmt.value)
        except ValueError:
            raise JdvaeError(f"{path}, parameters cell, line {stmt.lineno}: not `name = value` with a literal "
                             f"value; write each parameter as e.g. seed = 0") from None
    return declared
