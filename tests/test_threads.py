"""Thread shares: the last trainings of `jdvae reproduce` take over the cores freed by the jobs that ended."""
import threading
from pathlib import Path

import torch

from jdvae.study import notebooks, threads
from jdvae.study.jobs import Job
from jdvae.study.local import _Shares


def test_a_written_share_is_adopted_and_a_bad_file_keeps_the_count(tmp_path, monkeypatch):
    before = torch.get_num_threads()
    path = tmp_path / "job.threads"
    monkeypatch.setenv(threads.ENV, str(path))
    try:
        assert threads.follow_share() == before  # no file yet: nothing changes
        threads.write_share(path, 2)
        assert threads.read_share() == 2
        assert threads.follow_share() == 2 == torch.get_num_threads()
        path.write_text("two\n")
        assert threads.read_share() is None
        assert threads.follow_share() == 2  # unreadable: the count stays
        threads.write_share(path, 1)
        assert threads.follow_share() == 1
    finally:
        torch.set_num_threads(before)


def test_no_variable_no_change(monkeypatch):
    monkeypatch.delenv(threads.ENV, raising=False)
    assert threads.read_share() is None


def test_shares_split_the_cores():
    assert threads.shares(1, 2) == 2
    assert threads.shares(2, 2) == 1
    assert threads.shares(3, 2) == 1
    assert threads.shares(2, 16) == 8


def _job(name: str, notebook: str = notebooks.TRAIN) -> Job:
    return Job(name, notebook, (("model", "PA1"),), Path(f"{name}.ipynb"))


def test_the_last_training_gets_both_cores_once_nothing_waits(tmp_path):
    """Three trainings on two slots: while one waits every share is 1; the last one alone is given 2."""
    jobs = [_job("a"), _job("b"), _job("c")]
    sched = _Shares(jobs, threads=1, cores=2, folder=tmp_path)
    release = {job.title: threading.Event() for job in jobs}
    seen: dict[str, list[int]] = {job.title: [] for job in jobs}
    started = {job.title: threading.Event() for job in jobs}

    def fake_step(job, n, share, gpu=None):
        assert n == 1 and share is not None
        seen[job.title].append(threads.read_share(share))
        started[job.title].set()
        release[job.title].wait(10)
        seen[job.title].append(threads.read_share(share))

    workers = [threading.Thread(target=sched.run, args=(fake_step, job)) for job in jobs[:2]]
    for w in workers:
        w.start()
    started["a"].wait(10), started["b"].wait(10)
    release["a"].set()
    workers[0].join(10)  # a ends while c waits: b keeps one thread
    assert seen["a"] == [1, 1]
    third = threading.Thread(target=sched.run, args=(fake_step, jobs[2]))
    third.start()
    started["c"].wait(10)
    release["b"].set()
    workers[1].join(10)  # b ends and nothing waits: c, alone, gets both cores
    assert seen["b"] == [1, 1]
    release["c"].set()
    third.join(10)
    assert seen["c"] == [1, 2]
    assert not list(tmp_path.glob(".*.threads"))  # each job's file goes with it


def test_the_judge_keeps_its_fixed_thread_count(tmp_path):
    judge, train = _job("judge", notebooks.JUDGE), _job("t")
    sched = _Shares([judge, train], threads=1, cores=2, folder=tmp_path)
    assert sched.share_file(judge) is None
    assert sched.share_file(train) is not None
    assert _Shares([train], threads=None, cores=2, folder=tmp_path).share_file(train) is None  # GPU: one job, no shares
