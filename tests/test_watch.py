"""Progress files and the study's status line: rates, per-job and whole-study ETAs, non-terminal output."""
import io
import json

import pytest

from jdvae.study import progress
from jdvae.study.watch import StudyWatch, fmt_duration, study_eta


def test_study_eta_fills_the_lanes_in_order():
    assert study_eta([100.0, 40.0], [60.0, 60.0], lanes=2) == 160.0  # 40+60=100, then 100+60 on the first free
    assert study_eta([], [30.0, 30.0, 30.0], lanes=2) == 60.0
    assert study_eta([10.0, None], [5.0], lanes=2) is None
    assert study_eta([10.0], [None], lanes=2) is None


def test_fmt_duration():
    assert fmt_duration(None) == "?" and fmt_duration(65) == "1m05s" and fmt_duration(3725) == "1h02m"


def test_reporter_writes_rate_and_total(tmp_path):
    path = tmp_path / "p.json"
    clock = iter([0.0, 10.0, 10.5, 20.0])
    r = progress.Reporter(path, total=100, initial=0, images_per_unit=32, every=2.0, clock=lambda: next(clock))
    r(50)  # t = 10: due
    rec = progress.read_progress(path)
    assert rec["done"] == 50 and rec["total"] == 100 and rec["rate"] == pytest.approx(5.0)
    r(51)  # t = 10.5: not due, nothing written
    assert progress.read_progress(path)["done"] == 50
    r(100)  # t = 20: the last step is always written
    assert progress.read_progress(path)["done"] == 100
    assert progress.Reporter(None, 10)(5) is None  # without a file it does nothing


def test_status_line_names_each_running_job_and_the_study_eta(tmp_path):
    out = io.StringIO()
    titles = ["train judge", "train PA1-s0", "train PA2-s0"]
    watch = StudyWatch(titles, {"train judge": "judge", "train PA1-s0": "PA1", "train PA2-s0": "PA1"},
                       tmp_path, lanes=2, log=lambda line: out.write(line + "\n"), stream=out)
    watch.start("train judge")
    watch.start("train PA1-s0")
    assert "starting" in watch.status() and "end in ?" in watch.status()
    for title, done, rate in (("train judge", 300, 1.0), ("train PA1-s0", 100, 10.0)):
        watch.progress_file(title).write_text(json.dumps({"done": done, "total": 1000, "rate": rate, "unit": "step",
                                                          "images_per_unit": 32}))
    line = watch.status()
    assert "train PA1-s0 100/1000 steps, 320 img/s, ETA 1m30s" in line
    assert "train judge 300/1000 steps, 32 img/s, ETA 11m40s" in line
    # PA2 is queued behind PA1 (90 s left, about 90 s in all): it starts when PA1 ends, the judge ends later
    assert "[0/3 done, 1 queued]" in line and "end in 11m40s" in line
    watch.kinds["train PA2-s0"] = "PA2"  # a kind not seen yet is estimated from the other trainings, not the judge
    assert "end in 11m40s" in watch.status()
    watch.progress_file("train judge").write_text(json.dumps({"done": 990, "total": 1000, "rate": 1.0, "unit": "step"}))
    assert "end in 1m40s" in watch.status()  # the judge's lane frees after 10 s; PA2 then takes about 90 s
    watch.every = 0.01
    with watch:
        import time
        time.sleep(0.1)
    assert "  ...   [0/3 done" in out.getvalue()  # not a terminal: plain lines


def test_a_failed_job_names_its_log_and_its_last_error(tmp_path, monkeypatch):
    from jdvae.study import jobs, notebooks
    from jdvae.errors import JdvaeError

    fake = tmp_path / "fail.ipynb"
    fake.write_text("{}")
    monkeypatch.setattr(notebooks, "FOLDER", tmp_path)
    monkeypatch.setattr(jobs.sys, "executable", "/bin/sh")  # "sh -m papermill ..." fails at once
    job = jobs.Job("train X", "fail.ipynb", (), tmp_path / "out.ipynb")
    with pytest.raises(JdvaeError, match=r"train X failed: .*; log .*out\.log"):
        jobs.execute(job, None)
    assert (tmp_path / "out.log").exists()
