"""CelebA by path: tiny trees in the official and the Kaggle mirror's layout, every way to give them, every error."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from jdvae.config import DataConfig
from jdvae.data import celeba
from jdvae.data.splits import load_split
from jdvae.data.synth_trees import write_celeba_tree
from jdvae.errors import JdvaeError
from test_reproduce import OUTPUTS, ROOT

ATTRS = ["5_o_Clock_Shadow", "Eyeglasses", "Male", "No_Beard", "Smiling"]
PARTITION = [0] * 8 + [1] * 2 + [2] * 2


def fake_celeba(root, attrs=ATTRS, partition=PARTITION):
    base = root / "celeba"
    (base / "img_align_celeba").mkdir(parents=True)
    rng = np.random.default_rng(0)
    names = [f"{i + 1:06d}.jpg" for i in range(len(partition))]
    rows = []
    for i, name in enumerate(names):
        Image.fromarray(rng.integers(0, 255, (218, 178, 3), dtype=np.uint8)).save(base / "img_align_celeba" / name)
        glasses, beard = i % 3 == 0, i % 2 == 0
        values = {"Eyeglasses": 1 if glasses else -1, "No_Beard": -1 if beard else 1}
        rows.append(name + " " + " ".join(f"{values.get(a, -1):2d}" for a in attrs))
    (base / "list_attr_celeba.txt").write_text(f"{len(names)}\n{' '.join(attrs)} \n" + "\n".join(rows) + "\n")
    (base / "list_eval_partition.txt").write_text("".join(f"{n} {p}\n" for n, p in zip(names, partition)))
    return base, names


def cfg(root, **kw):
    return DataConfig(source="celeba", celeba_root=str(root), image_size=32, labels=("glasses", "beard"), **kw)


def test_loads_official_partitions_and_labels(tmp_path):
    fake_celeba(tmp_path / "data")
    train = load_split(cfg(tmp_path / "data", supervision=0.5), "train", cache_dir=tmp_path / "cache", progress=False)
    assert train.images.shape == (8, 32, 32, 3) and train.images.dtype == np.uint8
    expected = np.array([[int(i % 3 == 0), int(i % 2 == 0)] for i in range(8)])
    assert np.array_equal(train.labels, expected)
    assert train.factors is None and train.supervised.sum() == 4
    test = load_split(cfg(tmp_path / "data"), "test", cache_dir=tmp_path / "cache", progress=False)
    assert len(test) == 2 and test.supervised.all()
    assert np.array_equal(test.labels, [[0, 1], [0, 0]])  # images 11 and 12


def test_cache_and_balance(tmp_path):
    fake_celeba(tmp_path / "data")
    first = load_split(cfg(tmp_path / "data"), "train", cache_dir=tmp_path / "cache", progress=False)
    for f in (tmp_path / "data" / "celeba" / "img_align_celeba").iterdir():
        f.unlink()  # the cache must serve the second call
    again = load_split(cfg(tmp_path / "data"), "train", cache_dir=tmp_path / "cache", progress=False)
    assert np.array_equal(first.images, again.images)
    balanced = load_split(cfg(tmp_path / "data", celeba_balance=True), "train", cache_dir=tmp_path / "cache",
                          progress=False)
    assert balanced.labels.any(axis=1).sum() == first.labels.any(axis=1).sum()  # every positive kept
    assert len(balanced) < len(first)


def test_accepts_the_celeba_folder_itself(tmp_path):
    base, _ = fake_celeba(tmp_path / "data")
    assert len(load_split(cfg(base), "val", cache_dir=tmp_path / "cache", progress=False)) == 2


def test_missing_root(tmp_path):
    with pytest.raises(JdvaeError, match="does not exist.*Google Drive"):
        load_split(cfg(tmp_path / "nowhere"), "train", cache_dir=tmp_path, progress=False)


@pytest.mark.parametrize("name", ["list_attr_celeba.txt", "list_eval_partition.txt", "img_align_celeba"])
def test_missing_annotation_file(tmp_path, name):
    base, _ = fake_celeba(tmp_path / "data")
    target = base / name
    if target.is_dir():
        for f in target.iterdir():
            f.unlink()
        target.rmdir()
    else:
        target.unlink()
    with pytest.raises(JdvaeError, match=name):
        load_split(cfg(tmp_path / "data"), "train", cache_dir=tmp_path, progress=False)


def test_unknown_attribute(tmp_path):
    fake_celeba(tmp_path / "data", attrs=[a if a != "Eyeglasses" else "Glasses" for a in ATTRS])
    with pytest.raises(JdvaeError, match="Eyeglasses"):
        load_split(cfg(tmp_path / "data"), "train", cache_dir=tmp_path, progress=False)


def test_truncated_jpeg(tmp_path):
    base, names = fake_celeba(tmp_path / "data")
    path = base / "img_align_celeba" / names[3]
    path.write_bytes(path.read_bytes()[:600])
    with pytest.raises(JdvaeError, match=names[3]):
        load_split(cfg(tmp_path / "data"), "train", cache_dir=tmp_path, progress=False)


def kaggle_celeba(root, deeper=True):
    """A 6 + 2 + 2 image SynthFaces tree in the Kaggle mirror's layout (images one folder deeper unless told)."""
    write_celeba_tree(root, {"train": 6, "val": 2, "test": 2}, kaggle=True)
    if not deeper:
        inner = root / "img_align_celeba" / "img_align_celeba"
        for f in inner.iterdir():
            f.rename(root / "img_align_celeba" / f.name)
        inner.rmdir()
    return root


@pytest.mark.parametrize("deeper", [True, False])
def test_kaggle_layout_reads_as_the_official_one(tmp_path, deeper):
    official = write_celeba_tree(tmp_path / "o", {"train": 6, "val": 2, "test": 2}).parent
    kaggle = kaggle_celeba(tmp_path / "k", deeper)
    assert celeba.find_layout(kaggle).name == "Kaggle" and celeba.find_layout(official).name == "official"
    for split in ("train", "test"):
        a = load_split(cfg(official), split, cache_dir=tmp_path / "cache", progress=False)
        b = load_split(cfg(kaggle), split, cache_dir=tmp_path / "cache", progress=False)
        assert np.array_equal(a.images, b.images) and np.array_equal(a.labels, b.labels)


@pytest.mark.parametrize("given", ["itself", "parent"])
def test_any_folder_name_given_itself_or_its_parent(tmp_path, given):
    base, _ = fake_celeba(tmp_path / "data")
    mine = base.rename(tmp_path / "data" / "myceleba")
    kaggle = kaggle_celeba(tmp_path / "mirror" / "archive")
    for folder in (mine, kaggle):
        root = folder if given == "itself" else folder.parent
        assert celeba.find_layout(root).folder == folder
        assert len(load_split(cfg(root), "val", cache_dir=tmp_path / "cache", progress=False)) == 2


def test_error_when_no_tables_names_the_paths_looked_at(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(JdvaeError, match=f"no CelebA tables in {tmp_path / 'empty'}: .*list_attr_celeba.txt "
                                         r"\(official layout\).*list_attr_celeba.csv \(Kaggle mirror\)"):
        load_split(cfg(tmp_path / "empty"), "train", cache_dir=tmp_path, progress=False)


def test_error_when_two_celeba_folders(tmp_path):
    fake_celeba(tmp_path / "data")
    kaggle_celeba(tmp_path / "data" / "archive")
    with pytest.raises(JdvaeError, match="several CelebA folders.*archive.*celeba"):
        load_split(cfg(tmp_path / "data"), "train", cache_dir=tmp_path, progress=False)


@pytest.mark.parametrize("name", ["list_attr_celeba.csv", "list_eval_partition.csv", "img_align_celeba"])
def test_incomplete_kaggle_layout(tmp_path, name):
    root = kaggle_celeba(tmp_path / "k")
    target = root / name
    if target.is_dir():
        import shutil
        shutil.rmtree(target)
    else:
        target.unlink()
    with pytest.raises(JdvaeError, match=f"Kaggle layout, in {root}\\) is incomplete: {root / name} is missing.*kaggle"):
        load_split(cfg(root.parent), "train", cache_dir=tmp_path, progress=False)


OFFICIAL_DAMAGE = [  # (file, line to replace: 0-based, new text, line named, problem)
    ("list_attr_celeba.txt", 0, "twelve", 1, "expected the number of images"),
    ("list_attr_celeba.txt", 0, "13", 1, "says 13 images but 12 rows follow"),
    ("list_attr_celeba.txt", 4, "000003.jpg -1 1 -1", 5, "3 values for 5 attributes"),
    ("list_attr_celeba.txt", 6, "000005.jpg -1 1 -1 yes -1", 7, "No_Beard is 'yes', not -1 or 1"),
    ("list_eval_partition.txt", 2, "000003.jpg 7", 3, "expected an image name and a partition 0, 1 or 2"),
    ("list_eval_partition.txt", 1, "000099.jpg 0", 2, "000099.jpg has no row in"),
]
KAGGLE_DAMAGE = [
    ("list_attr_celeba.csv", 0, "name,Eyeglasses", 1, "expected a header row image_id"),
    ("list_attr_celeba.csv", 3, "000003.jpg,1", 4, "1 values for 40 attributes"),
    ("list_eval_partition.csv", 0, "000001.jpg,0", 1, "expected a header row image_id,partition"),
    ("list_eval_partition.csv", 2, "000002.jpg;0", 3, "expected an image name and a partition"),
]


@pytest.mark.parametrize("layout,damage", [("official", d) for d in OFFICIAL_DAMAGE] +
                         [("Kaggle", d) for d in KAGGLE_DAMAGE])
def test_malformed_table_names_file_and_line(tmp_path, layout, damage):
    name, index, text, line, problem = damage
    folder = fake_celeba(tmp_path / "data")[0] if layout == "official" else kaggle_celeba(tmp_path / "data")
    lines = (folder / name).read_text().splitlines()
    lines[index] = text
    (folder / name).write_text("\n".join(lines) + "\n")
    with pytest.raises(JdvaeError) as e:
        load_split(cfg(tmp_path / "data"), "train", cache_dir=tmp_path, progress=False)
    assert str(e.value).startswith(f"{folder / name} line {line}: {problem}") and "\n" not in str(e.value)


def test_synth_tree_is_synthfaces_after_the_crop(tmp_path):
    """The loader's 178 px centre crop of a written tree gives the SynthFaces faces and labels back."""
    from jdvae.data import synthfaces
    from jdvae.data.splits import SPLIT_OFFSET

    root = write_celeba_tree(tmp_path / "o", {"train": 2, "val": 3, "test": 1}, seed=4).parent
    val = load_split(cfg(root, seed=4), "val", cache_dir=tmp_path, progress=False)
    factors = synthfaces.sample_factors(4, np.arange(SPLIT_OFFSET["val"], SPLIT_OFFSET["val"] + 3))
    assert np.array_equal(val.labels, synthfaces.labels_of(factors, ("glasses", "beard")))
    error = np.abs(val.images.astype(int) - synthfaces.render(factors, 32)).mean()
    assert error < 8  # JPEG and two resizes; a face one pixel off reads about twice this
    attr = (root / "celeba" / "list_attr_celeba.txt").read_text().splitlines()
    assert attr[0] == "6" and len(attr[1].split()) == 40 and len(attr) == 8


def test_synth_refuses_a_folder_in_use_and_bad_counts(tmp_path, capsys):
    from jdvae.cli import main

    fake_celeba(tmp_path / "data")
    before = (tmp_path / "data" / "celeba" / "list_attr_celeba.txt").read_text()
    assert main(["synth", "--celeba-layout", str(tmp_path / "data")]) == 2
    assert (tmp_path / "data" / "celeba" / "list_attr_celeba.txt").read_text() == before
    assert main(["synth", "--celeba-layout", str(tmp_path / "new"), "--splits", "4,0,2"]) == 2
    assert not (tmp_path / "new").exists() and not list(tmp_path.glob(".new*"))
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "not an empty folder" in err[0] and "three positive counts" in err[1]


@pytest.mark.parametrize("kaggle", [False, True], ids=["official", "Kaggle"])
def test_reproduce_smoke_runs_to_the_end_on_celeba(tmp_path, kaggle, launches):
    """`jdvae reproduce --profile smoke --data celeba` through the notebooks on a SynthFaces tree in each layout."""
    write_celeba_tree(tmp_path / "data", {"train": 36, "val": 12, "test": 12}, kaggle=kaggle)
    runs, figures = tmp_path / "runs", tmp_path / "figures"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "JDVAE_OFFLINE": "1", "TORCH_HOME": str(tmp_path / "torch")}
    cmd = [sys.executable, "-m", "jdvae", "reproduce", "--profile", "smoke", "--data", "celeba",
           "--celeba-root", str(tmp_path / "data"), "--runs", str(runs), "--figures", str(figures)]
    result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    judge = json.loads((runs / "judge" / "judge_config.json").read_text())
    assert judge["config"]["data"]["source"] == "celeba" and judge["config"]["data"]["labels"] == ["glasses", "beard"]
    with open(figures / "table1.csv") as f:
        sections = {r["section"] for r in csv.DictReader(f)}
    assert sections == {"glasses", "glasses+beard"}
    for name in OUTPUTS:
        assert (figures / name).stat().st_size > 0, name
