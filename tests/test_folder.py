"""Your own labelled images (--data folder): labels.csv read, split, cropped and cached; every bad input one line."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from jdvae.cli import main
from jdvae.config import DataConfig
from jdvae.data.folder import read_table
from jdvae.data.splits import load_split
from jdvae.data.synth_trees import write_labelled_folder
from jdvae.errors import JdvaeError
from test_reproduce import OUTPUTS, ROOT

SPLIT = ["train"] * 8 + ["val"] * 4 + ["test"] * 4


def own_folder(root, split=SPLIT, header=("file", "smile", "hat", "split"), size=(40, 30)):
    """Random images (40x30: not square), one per entry of `split`, with smile = row % 2, hat = row % 4 < 2."""
    (root / "pics").mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for i, part in enumerate(split):
        name = f"pics/{i:02d}.png"
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(root / name)
        rows.append([name, str(i % 2), str(int(i % 4 < 2)), part][:len(header)])
    (root / "labels.csv").write_text("\n".join(",".join(r) for r in [list(header)] + rows) + "\n")
    return root


def cfg(root, labels=("hat", "smile"), **kw):
    return DataConfig(source="folder", data_root=str(root), labels=labels, image_size=32, **kw)


def test_split_column_labels_in_the_order_asked_and_centre_crop(tmp_path):
    root = own_folder(tmp_path / "mine")
    val = load_split(cfg(root), "val", progress=False)
    assert val.label_names == ("hat", "smile") and val.factors is None and np.array_equal(val.index, [8, 9, 10, 11])
    assert np.array_equal(val.labels, [[1, 0], [1, 1], [0, 0], [0, 1]])
    with Image.open(root / "pics" / "08.png") as im:
        square = im.crop((5, 0, 35, 30)).resize((32, 32), Image.BICUBIC)  # the centred 30x30 of a 40x30 image
    assert np.array_equal(val.images[0], np.asarray(square))
    assert np.array_equal(load_split(cfg(root), "val", progress=False).images, val.images)  # from the cache


def test_seeded_80_10_10_split_without_a_split_column(tmp_path):
    root = own_folder(tmp_path / "mine", split=["train"] * 100, header=("file", "smile", "hat"))
    parts = {s: load_split(cfg(root), s, progress=False).index for s in ("train", "val", "test")}
    assert [len(parts[s]) for s in ("train", "val", "test")] == [80, 10, 10]
    assert sorted(np.concatenate(list(parts.values()))) == list(range(100))
    again = load_split(cfg(root), "val", progress=False).index
    other = load_split(cfg(root, seed=1), "val", progress=False).index
    assert np.array_equal(again, parts["val"]) and not np.array_equal(other, parts["val"])


def _damage(root, line, text):
    lines = (root / "labels.csv").read_text().splitlines()
    lines[line - 1] = text
    (root / "labels.csv").write_text("\n".join(lines) + "\n")


BAD = {  # what is done to a good folder -> what the one-line error must say
    "no folder": (lambda r: None, "does not exist; pass --data-root"),
    "no labels.csv": (lambda r: (r / "labels.csv").unlink(), "labels.csv is missing; write it with a `file` column"),
    "no label column": (lambda r: _damage(r, 1, "file,smile,cap,split"), "line 1: no column 'hat'.*add it"),
    "no file column": (lambda r: _damage(r, 1, "path,smile,hat,split"), "line 1: no column 'file'"),
    "label not 0/1": (lambda r: _damage(r, 4, "pics/02.png,0,yes,train"), "line 4: hat is 'yes', not 0 or 1; write"),
    "0, 1 and -1 mixed": (lambda r: _damage(r, 4, "pics/02.png,0,-1,train"),
                          "label hat mixes 0 \\(line 5\\) and -1 \\(line 4\\); write 0/1, or -1/1"),
    "file listed twice": (lambda r: _damage(r, 9, "./pics/01.png,1,1,train"),
                          "lines 3 and 9: image './pics/01.png' is listed twice.*keep one row per image"),
    "other separator": (lambda r: (r / "labels.csv").write_text((r / "labels.csv").read_text().replace(",", "|")),
                        "line 1: no column 'file' \\(columns no comma, semicolon or tab found: file\\|smile.*separate"),
    "missing image": (lambda r: (r / "pics" / "05.png").unlink(), "line 7: image .*05.png does not exist; fix"),
    "undecodable image": (lambda r: (r / "pics" / "05.png").write_bytes(b"not a png"),
                          "line 7: image .*05.png does not decode.*replace it"),
    "short row": (lambda r: _damage(r, 3, "pics/01.png,1,train"), "line 3: 3 fields for 4 columns"),
    "bad split": (lambda r: _damage(r, 3, "pics/01.png,1,1,dev"), "line 3: split is 'dev'; write train, val"),
    "no positive in a split": (lambda r: [_damage(r, n, f"pics/{n - 2:02d}.png,0,0,test") for n in (14, 15, 16, 17)],
                               "label hat has no positive \\(hat=1\\) in the test split.*line 14.*add images"),
    "no negative in a split": (lambda r: [_damage(r, n, f"pics/{n - 2:02d}.png,1,1,val") for n in (10, 11, 12, 13)],
                               "label hat has no negative \\(hat=0\\) in the val split"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_every_bad_input_is_one_line_naming_file_row_and_fix(tmp_path, case, capsys):
    root = tmp_path / "mine"
    if case != "no folder":
        own_folder(root)
    damage, message = BAD[case]
    damage(root)
    with pytest.raises(JdvaeError, match=message) as e:
        load_split(cfg(root), "train", progress=False)
    assert "\n" not in str(e.value) and (case == "no folder" or str(root / "labels.csv") in str(e.value))
    out = tmp_path / "run"
    argv = ["train", "--model", "PA1", "--profile", "smoke", "--data", "folder", "--data-root", str(root),
            "--labels", "hat,smile", "--out", str(out), "--quiet"]
    assert main(argv) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not (out / "config.json").exists()  # nothing half-written


@pytest.mark.parametrize("sep", [";", "\t"])
def test_semicolon_and_tab_tables_read_as_the_comma_one(tmp_path, sep):
    comma = own_folder(tmp_path / "comma")
    other = own_folder(tmp_path / "other")
    (other / "labels.csv").write_text((other / "labels.csv").read_text().replace(",", sep))
    a, b = read_table(comma, ("hat", "smile"), 0), read_table(other, ("hat", "smile"), 0)
    assert a.files == b.files and np.array_equal(a.labels, b.labels) and np.array_equal(a.split, b.split)
    _damage(other, 1, sep.join(["file", "smile", "cap", "split"]))
    name = {";": "semicolons", "\t": "tabs"}[sep]
    with pytest.raises(JdvaeError, match=f"no column 'hat' \\(columns separated by {name}: file, smile, cap, split\\)"):
        read_table(other, ("hat", "smile"), 0)


def test_celeba_minus_one_column_reads_as_zero_one(tmp_path):
    root = own_folder(tmp_path / "mine")
    plain = read_table(root, ("hat", "smile"), 0).labels
    lines = (root / "labels.csv").read_text().splitlines()
    (root / "labels.csv").write_text("\n".join([lines[0]] + [",".join([f, s, "-1" if h == "0" else h, p])
                                                             for f, s, h, p in (x.split(",") for x in lines[1:])]))
    assert "-1" in (root / "labels.csv").read_text()
    assert np.array_equal(read_table(root, ("hat", "smile"), 0).labels, plain)  # hat: -1/1 -> 0/1; smile: as it was


def test_fewer_images_than_a_batch_and_bad_label_names(tmp_path, capsys):
    root = own_folder(tmp_path / "mine")
    out = tmp_path / "run"
    base = ["train", "--model", "PA1", "--profile", "smoke", "--data-root", str(root), "--out", str(out), "--quiet"]
    assert main(base + ["--labels", "hat"]) == 2  # 8 training images, a batch of 32
    assert main(base + ["--labels", "hat,hat"]) == 2
    assert main(base + ["--labels", "hat/x"]) == 2
    assert main(["reproduce", "--profile", "smoke", "--data-root", str(root), "--labels", "a,b,c",
                 "--runs", str(tmp_path / "r")]) == 2
    assert main(["reproduce", "--profile", "smoke", "--labels", "smile", "--runs", str(tmp_path / "r")]) == 2
    judge = ["judge", "--profile", "smoke", "--data-root", str(root), "--out", str(tmp_path / "j")]
    assert main(judge) == 2  # the judge reads the study's labels: they must be given
    assert main(judge + ["--labels", "smile,hat", "--calibrate-fade"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 7 and "8 images (the train rows of" in err[0] and "fewer than one batch of 32" in err[0]
    assert all("--labels" in line for line in err[1:6]) and "one or two labels" in err[3] and "one or two" in err[5]
    assert "--data folder" in err[4] and "folder data has none" in err[6]
    assert not (out / "config.json").exists() and not (tmp_path / "r").exists() and not (tmp_path / "j").exists()


def test_synth_writes_a_labelled_folder_under_the_names_given(tmp_path, capsys):
    from jdvae.data import synthfaces
    from jdvae.data.splits import SPLIT_OFFSET

    assert main(["synth", "--labelled-folder", str(tmp_path / "f"), "--label-names", "smile,hat", "--splits", "3,3,3",
                 "--size", "32", "--prevalence", "0.5"]) == 0
    header = (tmp_path / "f" / "labels.csv").read_text().splitlines()[0]
    assert header == "file,smile,hat,split"
    table = read_table(tmp_path / "f", ("hat", "smile"), 0)
    factors = synthfaces.sample_factors(0, np.arange(SPLIT_OFFSET["val"], SPLIT_OFFSET["val"] + 3), 0.5)
    assert np.array_equal(table.labels[table.split == "val"], synthfaces.labels_of(factors, ("beard", "glasses")))
    assert main(["synth", "--labelled-folder", str(tmp_path / "g"), "--label-names", "smile"]) == 2
    assert main(["synth", "--labelled-folder", str(tmp_path / "g"), "--label-names", "smile,a/b"]) == 2
    assert main(["synth", "--labelled-folder", str(tmp_path / "f")]) == 2  # in use: kept
    assert not (tmp_path / "g").exists() and len(list((tmp_path / "f" / "images").iterdir())) == 9
    assert len(capsys.readouterr().err.strip().splitlines()) == 3


def test_reproduce_smoke_on_your_own_images_with_two_labels(tmp_path, launches):
    """`jdvae reproduce --data folder` through the notebooks on a generated folder whose labels are smile and hat."""
    write_labelled_folder(tmp_path / "mine", {"train": 36, "val": 12, "test": 12}, ("smile", "hat"), size=32)
    runs, figures = tmp_path / "runs", tmp_path / "figures"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "JDVAE_OFFLINE": "1", "TORCH_HOME": str(tmp_path / "torch")}
    cmd = [sys.executable, "-m", "jdvae", "reproduce", "--profile", "smoke", "--data", "folder", "--data-root",
           str(tmp_path / "mine"), "--labels", "smile,hat", "--runs", str(runs), "--figures", str(figures)]
    result = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    judge = json.loads((runs / "judge" / "judge_config.json").read_text())["config"]["data"]
    assert judge["source"] == "folder" and judge["labels"] == ["smile", "hat"]
    assert {p.name for p in runs.glob("*-s0")} >= {"PA1-smile-s0", "CCVAE-smile-s0", "PA1-smile+hat-s0"}
    with open(figures / "table1.csv") as f:
        assert {r["section"] for r in csv.DictReader(f)} == {"smile", "smile+hat"}
    assert "SynthFaces-only measures" in (figures / "table1.md").read_text()
    for name in OUTPUTS:
        assert (figures / name).stat().st_size > 0, name
