"""The study on a real one-node SLURM cluster (tests/slurm/cluster.sh starts it on localhost, as root): the smoke
profile end to end through `--launcher slurm` to claims.md and the figures, its submitting command interrupted and
run again (it follows the tasks already submitted); a task requeued mid-training that resumes and ends on the
weights of an uninterrupted run, beside a failing task and a cancelled one that are reported while it finishes;
one training through torchrun as a SLURM job.

Without root or without slurm-wlm and munge (`make slurm` installs them) these tests skip and say why. The
cluster's daemons are stopped and every job cancelled at the end; every wait is bounded."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from safetensors.torch import load_file

from jdvae.errors import JdvaeError
from jdvae.study import notebooks
from jdvae.study.follow import RECORD
from jdvae.study.jobs import Job
from jdvae.study.plan import format_overrides, make_config
from jdvae.study.slurm import SlurmLauncher, SlurmOptions
from jdvae.vae.checkpoint import load_state
from jdvae.vae.train import train

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = ROOT / "tests" / "slurm" / "cluster.sh"
OUTPUTS = ("table1.csv", "table1.md", "metrics.json", "claims.md", "fig2.png", "fig3.png", "data_samples.png",
           "explore_panel.png")
pytestmark = pytest.mark.slurm


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, launches):
    """A one-node cluster of its own (its own port, munge socket and state) for this module; SLURM_CONF names it."""
    if os.geteuid() != 0:
        pytest.skip("the test cluster's daemons run as root; this is not root")
    missing = [p for p in ("munged", "slurmctld", "slurmd", "sbatch") if shutil.which(p) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} missing: `make slurm` installs slurm-wlm and munge (as root, with apt-get)")
    folder = tmp_path_factory.mktemp("cluster")
    env = {**os.environ, "CLUSTER_PORT": str(free_port_pair())}
    started = subprocess.run([CLUSTER, "start", folder], env=env, capture_output=True, text=True, timeout=120)
    if started.returncode != 0:
        subprocess.run([CLUSTER, "stop", folder], timeout=120)
        pytest.skip(f"the test cluster did not start: {(started.stdout + started.stderr).strip()[-300:]}")
    before = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(folder / "slurm.conf")
    try:
        yield folder
    finally:
        subprocess.run([CLUSTER, "stop", folder], timeout=120)
        if before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = before


def free_port_pair(first: int = 6937) -> int:
    """A port P such that P (slurmctld) and P + 1 (slurmd) are free here: another cluster may run beside this one."""
    for port in range(first, first + 200, 2):
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
            return port
        except OSError:
            continue
    pytest.skip(f"no two free ports from {first} for the test cluster")


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.2)
    raise AssertionError(f"waited {seconds:.0f} s for {what}")


def test_smoke_study_on_slurm_to_claims_and_figures(cluster, tmp_path):
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "jdvae", "reproduce", "--profile", "smoke", "--launcher", "slurm", "--partition",
           "debug", "--device", "cpu", "--runs", str(runs), "--max-parallel", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    unknown = subprocess.run(cmd[:-4] + ["--partition", "nope", "--runs", str(tmp_path / "other")], env=env,
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert unknown.returncode == 2 and "unknown partition 'nope'" in unknown.stderr
    assert not (tmp_path / "other" / "slurm" / RECORD).exists()  # nothing submitted

    with open(tmp_path / "first.log", "w") as out:  # interrupted once its tasks run: they go on without it
        first = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        wait_for(lambda: "  start " in (tmp_path / "first.log").read_text() or first.poll() is not None, 300,
                 "a first task to start")
    first.send_signal(signal.SIGINT)
    first.wait(timeout=60)
    assert first.returncode == 130, (tmp_path / "first.log").read_text()[-2000:]
    submitted = json.loads((runs / "slurm" / RECORD).read_text())
    assert len(submitted) == 10  # eight trainings and two judges, one task each

    again = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=1200)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    assert "  follow " in again.stdout  # the tasks still queued or running are followed, not submitted twice
    record = json.loads((runs / "slurm" / RECORD).read_text())
    assert {t: record[t] for t in submitted} == submitted and len(record) == 11  # and the tables-and-figures task
    assert again.stdout.count("  done ") >= 2 and "tables and figures" in again.stdout
    for name in OUTPUTS:
        assert (runs / "figures" / name).stat().st_size > 0, name
    claims = (runs / "figures" / "claims.md").read_text()
    assert "| judge 0 | judge 1 | pooled |" in claims
    assert len(list(runs.glob("*/done.json"))) == 8

    status = subprocess.run([sys.executable, "-m", "jdvae", "status", str(runs)], capture_output=True, text=True,
                            cwd=ROOT, timeout=120)
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert len(lines) == 11 and all(line.startswith("DONE") and "_log.err" in line for line in lines), status.stdout


def test_a_requeued_task_resumes_to_the_same_weights_while_failing_tasks_are_reported(cluster, tmp_path, trains):
    """One array: a training signalled as before its time limit (submitit checkpoints and requeues it), one
    requeued as a preemption does, one that fails at once, one cancelled."""
    overrides = {"train.epochs": 10, "train.checkpoint_minutes": 0.0}  # a checkpoint after every one of 80 steps
    cfg = make_config("PA1", "smoke", overrides={**overrides, "train.threads": 1})
    train(cfg, tmp_path / "reference", progress=False)

    common = (("labels", "glasses"), ("seed", 0), ("adain", True), ("tokens", True), ("threads", 1),
              ("profile", "smoke"), ("data", "synthfaces"), ("celeba_root", ""), ("data_root", ""),
              ("device", "cpu"), ("overrides", format_overrides(overrides)))
    out = tmp_path / "PA1"
    good = Job("train PA1", notebooks.TRAIN, (("model", "PA1"), ("out", str(out))) + common, tmp_path / "PA1.ipynb")
    bad = Job("train NOPE", notebooks.TRAIN, (("model", "NOPE"), ("out", str(tmp_path / "NOPE"))) + common,
              tmp_path / "NOPE.ipynb")
    preempted = Job("train PA2", notebooks.TRAIN, (("model", "PA2"), ("out", str(tmp_path / "PA2"))) + common,
                    tmp_path / "PA2.ipynb")
    cancelled = Job("train M2", notebooks.TRAIN, (("model", "M2"), ("out", str(tmp_path / "M2"))) + common,
                    tmp_path / "M2.ipynb")
    launcher = SlurmLauncher(SlurmOptions(partition="debug"), "smoke", "cpu", tmp_path / "jobs").check()
    launcher.place("cpu", cfg)
    lines, errors = [], []

    def run():
        try:
            launcher.run([bad, good, preempted, cancelled], None, 1, tmp_path, lines.append)
        except JdvaeError as e:
            errors.append(str(e))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    step = wait_for(lambda: (out / "state.pt").exists() and load_state(out / "state.pt")["step"] >= 8 and
                    load_state(out / "state.pt")["step"], 600, "the training to pass step 8")
    assert step < 80, "the training ended before it could be interrupted"
    record = json.loads((tmp_path / "jobs" / RECORD).read_text())
    # the signal SLURM sends before a time limit (--signal=USR2@120): submitit checkpoints the task and requeues it
    subprocess.run(["scancel", "--signal=USR2", record["train PA1"]], check=True, timeout=60)
    subprocess.run(["scontrol", "requeue", record["train PA2"]], check=True, timeout=60)  # as a preemption does
    subprocess.run(["scancel", record["train M2"]], check=True, timeout=60)  # killed: it leaves no result behind
    thread.join(timeout=900)
    assert not thread.is_alive(), "the tasks did not end within 15 min"

    assert len(errors) == 1 and "2 SLURM task(s) failed" in errors[0], "\n".join(lines)
    fail = next(line for line in lines if line.startswith("  FAIL") and "train NOPE" in line)
    assert "unknown model 'NOPE'" in fail and "_log.err" in fail  # the error's last line and the task's log
    assert any(line.startswith("  FAIL") and "train M2" in line and "ended without a result" in line for line in lines)
    for title in ("train PA1", "train PA2"):
        assert any(line.startswith("  done ") and title in line for line in lines), lines
        assert sum(line.startswith("  start ") and title in line for line in lines) == 2, lines  # started again
    assert "resuming at step" in good.output.read_text()
    resumed, reference = load_file(out / "model.safetensors"), load_file(tmp_path / "reference" / "model.safetensors")
    assert resumed.keys() == reference.keys()
    assert all((resumed[k] == reference[k]).all() for k in reference), "the resumed run's weights differ"


def test_one_training_through_torchrun_as_a_slurm_job(cluster, tmp_path, trains):
    """`jdvae train --launcher slurm`: the job's one node starts torchrun, which trains the run to its end."""
    out = tmp_path / "PA1"
    result = subprocess.run([sys.executable, "-m", "jdvae", "train", "--model", "PA1", "--profile", "smoke", "--out",
                             str(out), "--device", "cpu", "--set", "train.threads=1", "--launcher", "slurm",
                             "--partition", "debug"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "  done " in result.stdout and (out / "done.json").exists() and (out / "model.safetensors").exists()
    assert (tmp_path / "slurm" / RECORD).exists()  # the job folder beside --out
