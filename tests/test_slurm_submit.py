"""What `--launcher slurm` submits, per flag, and the bad input it refuses before submitting anything: no cluster
needed (the sbatch file is submitit's own, written by the function SlurmExecutor uses; tests/test_slurm_cluster.py
submits it to a real SLURM)."""
import os
import stat
import sys

import pytest

from jdvae.cli import main
from jdvae.errors import JdvaeError
from jdvae.study.slurm import SlurmOptions, parse_slurm_sets, private_folder, sbatch_parameters, sbatch_script


def flags(script: str) -> dict[str, str]:
    """The #SBATCH lines of an sbatch file as {option: value}."""
    out = {}
    for line in script.splitlines():
        if line.startswith("#SBATCH --"):
            key, _, value = line[len("#SBATCH --"):].partition("=")
            out[key] = value
    return out


def test_defaults_one_gpu_per_task_on_cuda_none_on_a_cpu_and_the_profiles_time():
    cuda = flags(sbatch_script(sbatch_parameters(SlurmOptions(), "quick", "auto", "jdvae-quick"), "/j", 10))
    assert cuda["gpus-per-node"] == "1" and cuda["cpus-per-task"] == "1" and cuda["time"] == "240"
    assert cuda["array"] == "0-9%10" and cuda["signal"] == "USR2@120" and "partition" not in cuda
    cpu = flags(sbatch_script(sbatch_parameters(SlurmOptions(), "smoke", "cpu", "jdvae-smoke", threads=2), "/j", 3))
    assert "gpus-per-node" not in cpu and cpu["cpus-per-task"] == "2" and cpu["time"] == "30"


@pytest.mark.parametrize("options, expected", [
    (SlurmOptions(partition="gpu"), {"partition": "gpu"}),
    (SlurmOptions(account="lab"), {"account": "lab"}),
    (SlurmOptions(qos="high"), {"qos": "high"}),
    (SlurmOptions(gpus_per_job=2), {"gpus-per-node": "2"}),
    (SlurmOptions(cpus_per_job=6), {"cpus-per-task": "6"}),
    (SlurmOptions(mem_per_job="16G"), {"mem": "16G"}),
    (SlurmOptions(time=90), {"time": "90"}),
    (SlurmOptions(max_parallel=3), {"array": "0-9%3"}),
    (SlurmOptions(sets=(("constraint", "a100"), ("reservation", "r1"))), {"constraint": "a100", "reservation": "r1"}),
])
def test_each_flag_reaches_the_sbatch_file(options, expected):
    got = flags(sbatch_script(sbatch_parameters(options, "paper", "cuda", "jdvae-paper"), "/j", 10))
    assert {k: got.get(k) for k in expected} == expected


def test_bad_options_are_one_line_errors():
    for bad in ({"time": 0}, {"max_parallel": 0}, {"gpus_per_job": -1}, {"mem_per_job": "lots"}):
        with pytest.raises(JdvaeError):
            SlurmOptions(**bad)
    assert parse_slurm_sets(["constraint=a100", "gres=gpu:a100:1"]) == (("constraint", "a100"), ("gres", "gpu:a100:1"))
    with pytest.raises(JdvaeError, match="KEY=VALUE"):
        parse_slurm_sets(["--constraint"])


def test_the_job_folder_is_private_and_one_others_can_write_is_refused(tmp_path):
    folder = private_folder(tmp_path / "a" / "jobs")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(JdvaeError, match="can be written by others"):
        private_folder(shared)
    shared.chmod(0o775)
    with pytest.raises(JdvaeError, match="can be written by others"):
        private_folder(shared)


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_dry_run_prints_the_array_and_the_tasks_and_submits_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")  # no sbatch: a dry run needs no cluster
    code, out, err = run_cli(capsys, "reproduce", "--profile", "smoke", "--launcher", "slurm", "--partition", "P",
                             "--device", "cpu", "--runs", str(tmp_path / "runs"), "--max-parallel", "2",
                             "--slurm-set", "constraint=fast", "--dry-run")
    assert code == 0, err
    sbatch = flags(out)
    assert sbatch["array"] == "0-9%2" and sbatch["partition"] == "P" and sbatch["constraint"] == "fast"
    assert "gpus-per-node" not in sbatch and "partition not checked" in out and "nothing submitted" in out
    assert out.count("  task ") == 10 and "'device': 'cpu'" in out and "then one task for Table 1" in out
    assert not (tmp_path / "runs" / "slurm").exists()  # a dry run creates no job folder


def test_train_over_several_nodes_runs_torchrun_on_each(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    code, out, err = run_cli(capsys, "train", "--model", "PA1", "--profile", "paper", "--out", str(tmp_path / "PA1"),
                             "--launcher", "slurm", "--nodes", "4", "--gpus-per-node", "8", "--partition", "gpu",
                             "--time", "600", "--dry-run", "--set", "train.epochs=2")
    assert code == 0, err
    sbatch = flags(out)
    assert (sbatch["nodes"], sbatch["ntasks-per-node"], sbatch["gpus-per-node"], sbatch["cpus-per-task"]) == \
        ("4", "1", "8", "8")
    assert "array" not in sbatch and sbatch["time"] == "600"
    torchrun = next(line for line in out.splitlines() if "each node runs" in line)
    for part in ("-m torch.distributed.run", "--nnodes=4", "--nproc-per-node=8", "--rdzv-backend=c10d",
                 "--rdzv-endpoint=FIRST_NODE:29500", "--rdzv-id=SLURM_JOB_ID", "-m jdvae train --model PA1",
                 "--resume", "--set train.epochs=2", f"--out {tmp_path / 'PA1'}"):
        assert part in torchrun, part


@pytest.mark.parametrize("argv, message", [
    (["--gpus-per-job", "1"], "--device cpu"),
    (["--job-dir", "/proc/nope/jobs"], "job folder"),
    ([], "sbatch is not on PATH"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    code, out, err = run_cli(capsys, "reproduce", "--profile", "smoke", "--launcher", "slurm", "--device", "cpu",
                             "--runs", str(tmp_path / "runs"), *argv)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "runs" / "notebooks").exists()  # refused before anything ran


def test_without_submitit_the_error_names_the_extra(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "submitit", None)  # import submitit raises ImportError
    code, out, err = run_cli(capsys, "reproduce", "--profile", "smoke", "--launcher", "slurm", "--device", "cpu",
                             "--runs", str(tmp_path / "runs"), "--dry-run")
    assert code == 2 and "pip install -e '.[slurm]'" in err


def test_slurm_options_without_the_slurm_launcher_are_refused(tmp_path, capsys):
    code, out, err = run_cli(capsys, "reproduce", "--profile", "smoke", "--partition", "P",
                             "--runs", str(tmp_path / "runs"))
    assert code == 2 and "only apply with --launcher slurm" in err


def test_following_is_bounded_when_a_task_vanishes_or_squeue_falls_silent(tmp_path, monkeypatch):
    """The waits without a cluster: squeue's answers replaced (tests/test_slurm_cluster.py has the real ones)."""
    from jdvae.study import follow

    task, lines = follow.Task("train X", "7_1", tmp_path), []
    task.err.write_text("Traceback\nKilledError: the node went away\n")
    monkeypatch.setattr(follow, "queue", lambda: {})  # gone, and no result file
    assert follow.follow([task], lines.append, poll=0.01) == [f"7_1 train X: ended without a result (killed, "
                                                               f"cancelled or its node lost): KilledError: the node went "
                                                               f"away; log {task.err}"]
    monkeypatch.setattr(follow, "queue", lambda: None)  # squeue does not answer
    monkeypatch.setattr(follow, "SILENT_MINUTES", 0.001)
    with pytest.raises(JdvaeError, match="squeue has not answered"):
        follow.follow([task], lines.append, poll=0.01)
