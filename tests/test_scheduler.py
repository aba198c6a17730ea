"""How many jobs `jdvae reproduce` runs side by side, and on which GPU: the logic on fake device lists."""
import threading

import torch

from jdvae.study import local, notebooks, reproduce as rep
from jdvae.study.local import LocalLauncher
from jdvae.study.plan import make_config
from jdvae.study.scheduler import CONTEXT_GIB, Gpu, GpuPool, gpu_jobs, job_memory_gib, side_by_side

H200 = Gpu("0", 139.8)


def test_a_cpu_runs_one_job_per_core_up_to_two():
    assert side_by_side("cpu", cores=1) == 1
    assert side_by_side("cpu", cores=16) == 2


def test_cuda_runs_as_many_jobs_as_memory_and_cores_allow():
    quick = make_config("PA1", "quick")
    assert side_by_side("cuda", quick, cores=16, gpus=lambda: [H200]) == 16  # the cores bound it
    assert side_by_side("cuda", quick, cores=16, gpus=lambda: [Gpu("0", 4.0)]) == 3  # the memory bounds it
    assert side_by_side("cuda", quick, cores=16, gpus=lambda: [Gpu("0", 4.0)] * 2) == 6  # two GPUs hold twice as many
    assert side_by_side("cuda", quick, cores=16, gpus=lambda: [Gpu("0", 0.5)]) == 1  # never none


def test_a_job_needs_a_context_and_the_step_scaled_by_pixels_and_width():
    paper, quick = make_config("PA1", "paper"), make_config("PA1", "quick")
    assert job_memory_gib(quick) < job_memory_gib(paper)
    assert CONTEXT_GIB < job_memory_gib(quick) < 2 * CONTEXT_GIB
    assert gpu_jobs([H200], 1000, job_memory_gib(paper)) == int(139.8 * 0.9 // job_memory_gib(paper))


def test_the_pool_spreads_jobs_over_the_gpus_with_the_fewest_running():
    pool = GpuPool([Gpu("2", 80.0), Gpu("5", 80.0)])
    with pool.take() as a, pool.take() as b, pool.take() as c:
        assert (a, b, c) == ("2", "5", "2")
    with pool.take() as d:
        assert d == "2"  # all freed: the first again
    with GpuPool([]).take() as none:
        assert none is None


def test_reproduce_on_cuda_runs_the_jobs_side_by_side_one_gpu_each(tmp_path, monkeypatch):
    """The whole schedule with a fake pair of GPUs and the notebooks replaced by a recorder."""
    seen, lock, running = [], threading.Lock(), [0, 0]

    def fake_execute(job, threads, share_file=None, progress_file=None, gpu=None):
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
            seen.append((job.notebook, threads, share_file, gpu, dict(job.parameters).get("workers")))
        threading.Event().wait(0.05)
        with lock:
            running[0] -= 1
        return 0.0

    monkeypatch.setattr(rep, "_execute", fake_execute)
    monkeypatch.setattr(local, "resolve_device", lambda device: torch.device("cuda"))
    gpus = [Gpu("0", 8.0), Gpu("1", 8.0)]
    rep.reproduce("smoke", device="cuda", runs=tmp_path / "runs", figures=tmp_path / "figures", log=lambda line: None,
                  launcher=LocalLauncher(gpus=lambda: gpus))
    trainings = [s for s in seen if s[0] in (notebooks.TRAIN, notebooks.JUDGE)]
    assert len(trainings) == 10 and running[1] > 1  # eight trainings and the two judges, several at a time
    assert all(threads == 1 and share is None for _, threads, share, _, _ in trainings)
    assert sorted({gpu for *_, gpu, _ in trainings}) == ["0", "1"]
    expected = side_by_side("cuda", make_config("PA1", "smoke"), gpus=lambda: gpus)
    assert [s[4] for s in seen if s[0] == notebooks.TABLE] == [expected]  # the evaluation side by side too


def test_reproduce_draws_into_the_runs_folder_unless_told(tmp_path, monkeypatch):
    """The figures go to RUNS/figures (runs/<profile>/figures by default), never to paper_figures/ unasked."""
    from jdvae.cli import main

    outs, labels = [], set()

    def fake_execute(job, *args, **kwargs):
        outs.append(dict(job.parameters).get("out"))
        labels.add(dict(job.parameters).get("labels"))
        return 0.0

    monkeypatch.setattr(rep, "_execute", fake_execute)
    monkeypatch.chdir(tmp_path)  # the default runs/smoke is relative to where the command runs
    for argv, figures in [([], "runs/smoke/figures"), (["--runs", "elsewhere"], "elsewhere/figures"),
                          (["--figures", "mine"], "mine")]:
        outs.clear()
        assert main(["reproduce", "--profile", "smoke", "--device", "cpu", "--jobs", "1", *argv]) == 0
        drawn = [outs[0]] + outs[-4:]  # 00_data, then Table 1, Fig. 2, Fig. 3 and the explorer
        assert drawn == [figures] * 5 and (tmp_path / figures).is_dir()
    assert not (tmp_path / "paper_figures").exists()
    assert labels == {None, "glasses", "glasses,beard"}  # the notebooks' one spelling, Fig. 3's included
