"""train.precision: resolution on faked CPU flags, the arithmetic of the forward it chooses, validation, old runs."""
import json

import pytest
import torch

from jdvae.vae import checkpoint as ckpt
from jdvae.vae import precision
from jdvae.config import PROFILES, RunConfig, diff, override, profile
from jdvae.errors import JdvaeError
from jdvae.vae.losses import loss_for
from jdvae.vae.model import ForwardOut, build_model

AVX2_ONLY = frozenset({"sse4_2", "avx", "avx2", "fma"})  # an AMD EPYC of this project's CI machines


def test_auto_is_bf16_on_amx_or_avx512_bf16_and_fp32_without():
    for flags in ({"avx2", "amx_bf16", "amx_tile"}, {"avx512f", "avx512_bf16"}):
        chosen = precision.resolve("auto", "cpu", flags=frozenset(flags))
        assert chosen.bf16 and "auto" in chosen.reason
    plain = precision.resolve("auto", "cpu", flags=AVX2_ONLY)
    assert plain.name == "fp32" and "amx_bf16" in plain.reason
    assert precision.resolve("fp32", "cpu", flags=frozenset({"amx_bf16"})).name == "fp32"
    asked = precision.resolve("bf16", "cpu", flags=AVX2_ONLY)
    assert asked.bf16 and "emulated" in asked.reason


def test_cpu_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: fpu avx2 amx_bf16 amx_tile\n\n"
                    "processor\t: 1\nflags\t\t: fpu\n")
    assert precision.cpu_flags(info) == {"fpu", "avx2", "amx_bf16", "amx_tile"}
    assert precision.cpu_flags(tmp_path / "missing") == frozenset()


@pytest.mark.parametrize("flags, chosen", [({"avx2", "amx_bf16"}, "bf16"), ({"avx512f", "avx512_bf16"}, "bf16"),
                                           (AVX2_ONLY, "fp32"), (set(), "fp32")])
def test_auto_reads_the_flags_of_the_cpu_it_runs_on(monkeypatch, flags, chosen):
    """Without flags given, resolve reads them from /proc/cpuinfo (here faked): what a run on that CPU gets."""
    monkeypatch.setattr(precision, "cpu_flags", lambda cpuinfo="/proc/cpuinfo": frozenset(flags))
    got = precision.resolve("auto", "cpu")
    assert got.name == chosen
    assert ("CPU has no amx_bf16" in got.reason) == (chosen == "fp32")  # the reason names what it found or lacks
    assert precision.resolve("fp32", "cpu").name == "fp32" and precision.resolve("bf16", "cpu").name == "bf16"


def _smoke_forward(chosen):
    torch.manual_seed(0)
    cfg = profile("smoke")
    model = build_model(cfg.model)
    x, y, sup = torch.rand(4, 3, 32, 32) * 2 - 1, torch.tensor([[1], [0], [1], [0]]), torch.ones(4, dtype=torch.bool)
    torch.manual_seed(1)
    with chosen.autocast("cpu"):
        out = model(x, y, sup)
    loss, _ = loss_for(model.structure.objective)(precision.to_fp32(out), x, y, sup, cfg.train)
    return model, out, loss


def test_the_chosen_precision_is_the_arithmetic_of_the_model_forward_on_cpu():
    """bf16 chosen: the network's layers run in bf16, and the loss, computed after to_fp32, stays fp32 and within
    bf16's rounding of the fp32 loss; fp32 chosen: every output in fp32."""
    from test_gpu_cuda import bf16_tolerance

    model, out16, loss16 = _smoke_forward(precision.resolve("auto", "cpu", flags=frozenset({"avx512_bf16"})))
    _, out32, loss32 = _smoke_forward(precision.resolve("auto", "cpu", flags=AVX2_ONLY))
    assert out16.x_hat.dtype == out16.mu_z.dtype == out16.logits_y.dtype == torch.bfloat16
    assert all(t.dtype == torch.float32 for t in out32 if t is not None)
    assert loss16.dtype == loss32.dtype == torch.float32
    assert not torch.equal(out16.x_hat.float(), out32.x_hat)
    assert abs(loss16.item() - loss32.item()) <= bf16_tolerance(model) * abs(loss32.item())


def test_the_trainer_runs_its_forward_in_the_precision_of_the_config(tmp_path, monkeypatch, trains):
    from jdvae.vae import train as train_module
    seen = []

    def spied(cfg):
        model = build_model(cfg)
        model.register_forward_hook(lambda module, args, out: seen.append(out.x_hat.dtype))
        return model

    monkeypatch.setattr(train_module, "build_model", spied)
    base = {"train.threads": 1, "train.max_steps": 2, "data.n_train": 64, "data.n_val": 32, "data.n_test": 32}
    for name, dtype in (("bf16", torch.bfloat16), ("fp32", torch.float32)):
        seen.clear()
        cfg = override(profile("smoke"), **{**base, "train.precision": name})
        train_module.train(cfg, tmp_path / name, progress=False)
        assert seen == [dtype, dtype], name
        row = (tmp_path / name / "metrics.csv").read_text().splitlines()
        assert "nan" not in row[1] and "inf" not in row[1]
        assert json.loads((tmp_path / name / ckpt.DONE).read_text())["precision"] == name  # what the run ran in


def test_profiles_keep_fp32_except_the_paper_profile():
    assert {name: cfg.train.precision for name, cfg in PROFILES.items()} == \
        {"smoke": "fp32", "quick": "fp32", "paper": "auto"}


def test_a_wrong_precision_is_one_line_naming_the_choices():
    cfg = override(profile("smoke"), **{"train.precision": "fp16"})
    with pytest.raises(JdvaeError, match=r"train.precision = 'fp16' must be one of auto, fp32, bf16"):
        cfg.validate()
    with pytest.raises(JdvaeError, match="auto, fp32, bf16"):
        precision.resolve("half", "cpu")


def test_a_run_saved_before_the_field_existed_still_matches_its_profile(tmp_path):
    for name in ("quick", "smoke"):
        stored = profile(name).to_dict()
        del stored["train"]["precision"]
        (tmp_path / ckpt.CONFIG).write_text(json.dumps(stored))
        old = ckpt.read_config(tmp_path)
        assert old.train.precision == "fp32"
        assert diff(old, profile(name)) == []  # what train._check_existing and reproduce.check_reusable compare
    assert RunConfig.from_dict(profile("paper").to_dict()).train.precision == "auto"


def test_losses_see_fp32_and_autocast_runs_bf16_on_cpu():
    x = torch.randn(2, 4, dtype=torch.bfloat16)
    out = ForwardOut(*(x for _ in range(7)), None, x, x)
    cast = precision.to_fp32(out)
    assert cast.logits_y_samples is None
    assert all(t.dtype == torch.float32 for t in cast if t is not None)
    chosen = precision.resolve("bf16", "cpu", flags=frozenset({"amx_bf16"}))
    with chosen.autocast("cpu"):
        y = torch.nn.functional.linear(torch.randn(2, 4), torch.randn(3, 4))
    assert y.dtype == torch.bfloat16
    with precision.resolve("fp32", "cpu").autocast("cpu"):
        assert torch.nn.functional.linear(torch.randn(2, 4), torch.randn(3, 4)).dtype == torch.float32


def test_bench_says_which_precision_it_chose(capsys):
    from jdvae.bench import to_markdown
    results = {"device": "cpu", "matmul_peak_gflops": 1.0, "batch": 2, "sizes": {},
               "precision": {"asked": "auto", "chosen": "fp32", "reason": "auto: CPU has no amx_bf16"}}
    assert "precision fp32 (train.precision=auto: auto: CPU has no amx_bf16)" in to_markdown(results)


def test_jdvae_bench_prints_the_precision_it_chose(tmp_path, capsys, trains):
    from jdvae.cli import main
    assert main(["bench", "--device", "cpu", "--sizes", "smoke", "--rounds", "1", "--threads", "1",
                 "--out", str(tmp_path / "b")]) == 0
    printed = capsys.readouterr().out
    chosen = precision.resolve("auto", "cpu")
    assert f"jdvae bench on cpu: precision {chosen.name} ({chosen.reason})" in printed
    saved = json.loads((tmp_path / "b.json").read_text())
    assert saved["precision"] == {"asked": "auto", "chosen": chosen.name, "reason": chosen.reason}
    (size,) = saved["sizes"].values()
    (optimised,) = [name for name in size["train"]["settings"] if name.startswith("optimised")]
    assert ("bf16" in optimised) == chosen.bf16
