"""The training step's GPU settings: none on a CPU whatever is asked, and logged numbers read late but summed the same."""
import pytest
import torch

from jdvae.config import override, profile
from jdvae.errors import JdvaeError
from jdvae.vae.levers import AUTO_CUDA, TermLog, adam, resolve


def test_a_cpu_run_takes_no_gpu_setting_whatever_is_asked():
    for asked in ("auto", "none", "graphs+fused_adam", "device_data+lazy_sync+fused_adam+graphs"):
        assert resolve(asked, "cpu").on == frozenset()
    assert resolve("auto", "cuda").on == frozenset(AUTO_CUDA) and "graphs" not in resolve("auto", "cuda")
    assert resolve("graphs+fused_adam", "cuda").on == {"graphs", "fused_adam"}
    assert resolve("none", "cuda").on == frozenset()


def test_an_unknown_lever_is_one_line_on_every_path():
    with pytest.raises(JdvaeError, match="unknown lever 'cudagraphs'") as e:
        resolve("graphs+cudagraphs", "cpu")
    assert "\n" not in str(e.value)
    with pytest.raises(JdvaeError, match="train.levers"):
        override(profile("smoke"), **{"train.levers": "fast"}).validate()


def test_reading_every_ten_steps_sums_what_reading_every_step_sums():
    gen = torch.Generator().manual_seed(0)
    steps = [{"loss": torch.rand((), generator=gen), "recon": torch.rand((), generator=gen)} for _ in range(23)]
    now, late = TermLog(1), TermLog(10)
    for i, terms in enumerate(steps):
        now.add(i, {k: float(v) for k, v in terms.items()})
        late.add(i, terms)
    assert len(late.pending) == 3 and late.count == 20
    assert late.take() == now.take()  # the same floats, added in the same order


def test_a_non_finite_loss_is_found_at_the_read_and_named_by_its_step():
    log = TermLog(10)
    for i in range(4):
        log.add(i, {"loss": torch.tensor(float("nan") if i == 2 else 1.0)})
    with pytest.raises(JdvaeError, match="loss became nan at step 2"):
        log.read()


def test_adam_is_fused_only_when_asked():
    p = [torch.nn.Parameter(torch.zeros(2))]
    assert not adam(p, 1e-3, resolve("auto", "cpu")).defaults.get("fused")
