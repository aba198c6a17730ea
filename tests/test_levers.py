"""The training step's GPU settings: none on a CPU whatever is asked, and logged numbers read late but summed the same."""
import pytest
import torch

from jdvae.config import override, profile
from jdvae.errors import JdvaeError
from jdvae.vae.levers import AUTO_CUDA, Levers, TermLog, adam, compile_wanted, resolve, restore_adam


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


def _trained_adam(levers: Levers) -> tuple[torch.nn.Module, dict]:
    torch.manual_seed(0)
    net = torch.nn.Linear(4, 3)
    opt = adam(net.parameters(), 1e-2, levers)
    for _ in range(3):
        opt.zero_grad()
        net(torch.randn(8, 4)).square().mean().backward()
        opt.step()
    return net, opt.state_dict()


@pytest.mark.parametrize("saved_fused,here_fused", [(True, False), (False, True)])
def test_a_resume_takes_the_adam_of_the_device_it_runs_on(saved_fused, here_fused, trains):
    """A state saved by a fused Adam (a CUDA run) resumes unfused on a CPU, and the other way round; the step counts
    and moments carry over, and the next step runs."""
    fused, plain = Levers(frozenset({"fused_adam"}), "test"), Levers(frozenset(), "test")
    net, saved = _trained_adam(fused if saved_fused else plain)
    opt = adam(net.parameters(), 1e-2, fused if here_fused else plain)
    restore_adam(opt, saved, fused if here_fused else plain)
    assert all(g["fused"] == (True if here_fused else None) for g in opt.param_groups)
    assert all(float(s["step"]) == 3 for s in opt.state.values())
    net(torch.randn(8, 4)).square().mean().backward()
    opt.step()
    assert all(float(s["step"]) == 4 for s in opt.state.values())


def test_the_paper_profile_compiles_on_cuda_and_on_a_cpu_only_when_asked():
    paper = profile("paper").train
    assert paper.compile and compile_wanted(paper, "cuda") and not compile_wanted(paper, "cpu")
    assert compile_wanted(override(profile("paper"), **{"train.compile_cpu": True}).train, "cpu")
    assert not compile_wanted(profile("quick").train, "cuda")
