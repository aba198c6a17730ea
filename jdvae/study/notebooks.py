"""The numbered notebooks of the study, named in one place, and the names of their executed copies.

`jdvae reproduce` runs them in their order (notebooks/, 00 to 06) and writes each executed copy into
RUNS/notebooks/. Nothing here imports more than the standard library and jdvae.io.
"""
from __future__ import annotations

from pathlib import Path

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
