"""train.precision: resolution on faked CPU flags, fp32 on a CPU without native bf16, validation, old runs."""
import json

import pytest
import torch

from jdvae.vae import checkpoint as ckpt
from jdvae.vae import precision
from jdvae.config import PROFILES, RunConfig, diff, override, profile
from jdvae.errors import JdvaeError
from jdvae.vae.model import ForwardOut

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


def test_this_cpu_trains_in_fp32_unless_it_has_native_bf16():
    native, _ = precision.cpu_bf16()
    chosen = precision.resolve(profile("paper").train.precision, "cpu")
    assert chosen.name == ("bf16" if native else "fp32")
    if not any(f in precision.cpu_flags() for f in precision.CPU_BF16_FLAGS):
        assert chosen.name == "fp32"  # the AVX2-only EPYC this project runs on


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
