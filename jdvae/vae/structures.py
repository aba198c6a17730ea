"""The five conditional dependency structures as data (paper section 2, Fig. 1).

One `Structure` row says where y and u enter the graph; `jdvae.vae.model.JDVAE` builds every
model from its row with plain conditionals, so nothing is written twice.
"""
from __future__ import annotations

from dataclasses import dataclass

from jdvae.errors import JdvaeError


@dataclass(frozen=True)
class Structure:
    """Where the label y and its features u live in one model."""

    y_latent: bool  # y is a latent variable fed to the decoder (tokens / FC); False: decoder sees z, u only
    has_u: bool  # a feature vector u_k per label
    u_gated: bool  # u multiplied by y before decoding (PA1: q(u|x,y=0) is a Dirac at 0)
    u_prior: str  # p(u|y): "dirac0" (PA1), "narrow0" (PA2: N(0, 0.1 I) for y=0), "learned" (CCVAE), "none"
    posterior_given_y: bool  # q(z|x,y), q(u|x,y) (PA, M2) rather than q(z|x), q(u|x) (CCVAE family)
    classifier: str  # "encoder": q(y|x) head on the trunk; "u": q(y|u) (Joy et al.)
    objective: str  # "eq4" (paper Eq. 4), "ccvae" (Joy et al.'s bound with Eq. 4's weights and MSE), "joy" (theirs)
    backbone: str = "jdvae"  # "jdvae" (Fig. 1) or "joy" (Joy et al.'s own CelebA network)


STRUCTURES: dict[str, Structure] = {
    "PA1": Structure(True, True, True, "dirac0", True, "encoder", "eq4"),
    "PA2": Structure(True, True, False, "narrow0", True, "encoder", "eq4"),
    "M2": Structure(True, False, False, "none", True, "encoder", "eq4"),
    "CCVAE2": Structure(False, True, False, "learned", False, "u", "ccvae"),
    "CCVAE": Structure(False, True, False, "learned", False, "u", "joy", backbone="joy"),
}

PA2_Y0_VAR = 0.1  # variance of p(u|y=0) for PA2
JOY_PRIOR_LOC = 2.0  # Joy et al. initialise p(z_c|y) at loc +2 (y=1) and -2 (y=0), raw scale 1


def structure(name: str) -> Structure:
    """The structure row of a model name."""
    if name not in STRUCTURES:
        raise JdvaeError(f"unknown model {name!r}; use one of {', '.join(STRUCTURES)}")
    return STRUCTURES[name]
