"""SynthFaces renderer: determinism, counterfactuals, regions, prevalence, factor table, CLI."""
import numpy as np
import pytest

from jdvae.cli import main
from jdvae.data import synthfaces as sf


def test_same_seed_same_bytes_other_seed_differs():
    a = sf.render(sf.sample_factors(3, np.arange(8)), 32)
    b = sf.render(sf.sample_factors(3, np.arange(8)), 32)
    c = sf.render(sf.sample_factors(4, np.arange(8)), 32)
    assert a.dtype == np.uint8 and a.shape == (8, 32, 32, 3)
    assert a.tobytes() == b.tobytes()
    assert (a != c).any()


def test_image_depends_only_on_its_index():
    batch = sf.render(sf.sample_factors(0, np.arange(10, 20)), 32)
    single = sf.render(sf.sample_factors(0, [15]), 32)
    assert np.array_equal(batch[5], single[0])


@pytest.mark.parametrize("label", ["glasses", "beard"])
def test_own_factors_counterfactual_is_the_original(label):
    f = sf.sample_factors(1, np.arange(12), prevalence=0.5)
    same = sf.with_label_of(f, f, label)
    assert np.array_equal(sf.render(same, 64), sf.render(f, 64))


@pytest.mark.parametrize("label", ["glasses", "beard"])
def test_removing_a_label_changes_pixels_only_inside_its_region(label):
    f = sf.sample_factors(2, np.arange(40), prevalence=0.6)
    f[label][:] = 1
    with_it, without = sf.render(f, 64), sf.render(sf.without_label(f, label), 64)
    changed = (with_it != without).any(axis=-1)
    mask = sf.label_mask(f, 64, label)
    assert changed.any(axis=(1, 2)).all()  # every image changes
    assert not (changed & ~mask).any()
    assert 0.005 < mask.mean() < 0.25


def test_donor_glasses_are_rendered():
    f = sf.sample_factors(5, np.arange(2))
    f["glasses"][:] = [1, 0]
    donor = sf.subset(f, [0])
    moved = sf.with_glasses_of(sf.subset(f, [1]), donor)
    assert moved["glasses"][0] == 1 and moved["glasses_shape"][0] == f["glasses_shape"][0]
    assert not np.array_equal(sf.render(moved, 32), sf.render(sf.subset(f, [1]), 32))
    assert sf.with_glasses_of(sf.subset(f, [0]), sf.subset(f, [1]))["glasses"][0] == 0
    assert sf.with_glasses_of(sf.subset(f, [0]), sf.subset(f, [1]), present=True)["glasses"][0] == 1


@pytest.mark.parametrize("prevalence", [0.1, 0.3, 0.7])
def test_label_prevalence_matches_setting(prevalence):
    labels = sf.labels_of(sf.sample_factors(0, np.arange(3000), prevalence), ("glasses", "beard"))
    assert labels.shape == (3000, 2) and labels.dtype == np.int64
    assert np.all(np.abs(labels.mean(axis=0) - prevalence) < 0.035)
    assert abs(np.corrcoef(labels.T)[0, 1]) < 0.06  # independent labels


def test_factor_arrays_match_the_documented_table():
    f = sf.sample_factors(0, np.arange(500))
    assert set(f) == set(sf.FACTORS)
    for name, (shape, rng, _) in sf.FACTORS.items():
        assert f[name].shape == (500, *shape), name
        if rng.startswith("{"):
            allowed = {int(v) for v in rng.strip("{}").split(",")}
            assert set(np.unique(f[name]).tolist()) <= allowed, name
        elif rng.startswith("["):
            lo, hi = (float(v) for v in rng.strip("[]").split(","))
            assert f[name].min() >= lo and f[name].max() <= hi, name
    assert set(sf.GLASSES_FEATURES) <= set(sf.FACTORS)
    assert len(np.unique(f["glasses_shape"])) == 3 and len(np.unique(f["hair_style"])) == 4


def test_glasses_visible_at_32px():
    f = sf.sample_factors(0, np.arange(30))
    f["glasses"][:] = 1
    mask = sf.label_mask(f, 32, "glasses")
    assert (mask.sum(axis=(1, 2)) >= 20).all()


def test_synth_command_writes_npz_and_sheet(tmp_path):
    out, sheet = tmp_path / "s.npz", tmp_path / "sheet.png"
    assert main(["synth", "--n", "10", "--size", "32", "--seed", "1", "--out", str(out), "--sheet", str(sheet)]) == 0
    z = np.load(out)
    assert z["images"].shape == (10, 32, 32, 3) and z["labels"].shape == (10, 2)
    assert np.array_equal(z["images"], sf.render(sf.sample_factors(1, np.arange(10)), 32))
    assert "glasses_tint" in z.files
    assert sheet.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args", [["--size", "48"], ["--n", "0"], ["--prevalence", "1.5"]])
def test_synth_command_rejects_bad_arguments(tmp_path, args, capsys):
    assert main(["synth", "--out", str(tmp_path / "x.npz"), *args]) == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


def test_synth_command_rejects_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["synth", "--n", "2", "--out", str(blocker / "sub" / "x.npz")]) == 2
    assert "cannot write" in capsys.readouterr().err
