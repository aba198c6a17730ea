"""The fade threshold's calibration: interpolation of the half point, and the reading of faded faces."""
import numpy as np
import pytest
import torch

from jdvae.evaluate.judge.calibrate import half_point, read_share_by_strength


def test_half_point_interpolates_the_first_crossing():
    assert half_point([0.0, 0.5, 1.0], [0.0, 0.25, 1.0]) == pytest.approx(0.5 + 0.25 / 0.75 * 0.5)
    assert half_point([0.0, 1.0], [0.6, 1.0]) == 0.0
    assert half_point([0.0, 1.0], [0.1, 0.4]) is None


def test_a_judge_that_reads_brightness_sees_the_fade(tmp_path):
    """A fake judge reads the label when the image differs enough from the bare face: its share must rise
    with the strength, from 0 at a = 0 (the bare face itself) to 1 at a = 1."""
    from jdvae.config import DataConfig
    from jdvae.data.splits import load_split
    from jdvae.evaluate.judge.inputs import bare_images

    split = load_split(DataConfig(image_size=32, n_train=64, n_val=64, n_test=64, prevalence=0.5,
                                  labels=("glasses",)), "val", progress=False)
    rows = np.flatnonzero(split.labels[:, 0] == 1)
    bare = bare_images(split.images[rows], split.labels[rows], split.factors, rows, split.label_names, 32)["glasses"]
    diff = np.abs(split.images[rows].astype(float) - bare.astype(float)).mean()

    class Fake(torch.nn.Module):
        labels = ("glasses",)

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))

        def predict(self, x):  # x in [-1, 1]; P(glasses) = 1 when far from every bare face of the split
            ref = torch.from_numpy(bare).float().permute(0, 3, 1, 2) / 127.5 - 1
            d = (x[:, None] - ref[None]).abs().mean((2, 3, 4)).min(1).values * 127.5
            return (d > 0.5 * diff).float()[:, None]

    shares = read_share_by_strength(Fake(), split, "glasses", strengths=(0.0, 1.0), n=len(rows))
    assert shares[0] == 0.0 and shares[1] > 0.9
