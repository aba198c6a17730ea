"""One model for the five structures: encode, decode, classify, reconstruct, sample, resample u.

Generative model (paper Eq. 1): p(x|y,z,u) p(u|y) p(y) p(z); posterior (Eq. 3):
q(y|x) q(z|x,y) q(u|x,y). Which parts exist, and where y and u enter, is read from the
model's `Structure` row (jdvae/vae/structures.py). Shapes: B batch, K labels, Z = z_dim,
U = u_dim (0 for M2, 1 for CCVAE's z_c), y_soft (B, K, 2) one-hot or relaxed labels.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from jdvae.config import ModelConfig
from jdvae.vae.nets.backbone import Decoder, Encoder
from jdvae.vae.nets.joy import JoyDecoder, JoyEncoder
from jdvae.vae.structures import JOY_PRIOR_LOC, PA2_Y0_VAR, structure


class Encoding(NamedTuple):
    """Posterior parameters of a batch (test-time encoding: y given, else the most likely label)."""

    logits_y: Tensor  # (B, K, 2) the model's own classifier
    probs_y: Tensor  # (B, K) P(y_k = 1 | x)
    y: Tensor  # (B, K) float labels used to condition
    mu_z: Tensor  # (B, Z)
    logvar_z: Tensor  # (B, Z)
    mu_u: Tensor  # (B, K, U)
    logvar_u: Tensor  # (B, K, U)


class ForwardOut(NamedTuple):
    """Everything the training losses need from one stochastic pass."""

    x_hat: Tensor  # (B, 3, S, S)
    logits_y: Tensor  # (B, K, 2); for q(y|u) models, from the u sample used to decode
    y_soft: Tensor  # (B, K, 2) labels used to condition: one-hot if supervised, Gumbel-softmax otherwise
    mu_z: Tensor
    logvar_z: Tensor
    mu_u: Tensor
    logvar_u: Tensor
    logits_y_samples: Tensor | None  # (S, B, K, 2) q(y|u) over S posterior samples of u (CCVAE family)
    prior_loc: Tensor  # (K, 2, U) p(u|y=c) means
    prior_logvar: Tensor  # (K, 2, U) p(u|y=c) log-variances (-inf marks PA1's Dirac at 0)


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    """Sample N(mu, exp(logvar)) with the reparameterisation trick [Kingma & Welling 2014]."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def one_hot(y: Tensor) -> Tensor:
    """(B, K) labels in {0, 1} -> (B, K, 2) float one-hot."""
    return F.one_hot(y.long().clamp(0, 1), 2).float()


def soft_labels(y: Tensor) -> Tensor:
    """(B, K) labels in [0, 1] or (B, K, 2) -> (B, K, 2) class weights."""
    if y.dim() == 3:
        return y.float()
    y = y.float()
    return torch.stack([1 - y, y], dim=-1)


class JDVAE(nn.Module):
    """PA1, PA2, M2, CCVAE2 and CCVAE, built from their structure rows."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        s = self.structure = structure(cfg.name)
        K, Z = cfg.n_labels, cfg.z_dim
        U = 1 if s.backbone == "joy" else (cfg.u_dim if s.has_u else 0)
        self.n_labels, self.z_dim, self.u_dim = K, Z, U

        if s.backbone == "joy":
            self.trunk = JoyEncoder(cfg.image_size)
        else:
            self.trunk = Encoder(cfg.image_size, cfg.width)
        h = self.trunk.out_dim
        y_in = 2 * K if s.posterior_given_y else 0
        self.head_y = nn.Linear(h, 2 * K) if s.classifier == "encoder" else None
        self.head_z = nn.Linear(h + y_in, 2 * Z)
        self.head_u = nn.ModuleList(
            nn.Linear(h + (2 if s.posterior_given_y else 0), 2 * U) for _ in range(K)) if U else None
        self.head_y_from_u = nn.ModuleList(nn.Linear(U, 2) for _ in range(K)) if s.classifier == "u" else None
        if s.u_prior == "learned":  # Joy et al.'s conditional prior p(u_k | y_k = c): loc -2 / +2, scale softplus(1)
            loc = torch.empty(K, 2, U)
            loc[:, 0], loc[:, 1] = -JOY_PRIOR_LOC, JOY_PRIOR_LOC
            self.prior_u_loc = nn.Parameter(loc)
            self.prior_u_scale = nn.Parameter(torch.ones(K, 2, U))  # raw; the scale is softplus(raw) >= 1e-3

        self.use_tokens = s.y_latent and cfg.tokens and s.backbone == "jdvae"
        code_dim = Z + K * U + (K if self.use_tokens else (2 * K if s.y_latent else 0))
        if s.backbone == "joy":
            self.decoder = JoyDecoder(cfg.image_size, code_dim)
        else:
            self.decoder = Decoder(cfg.image_size, cfg.width, code_dim, style_dim=Z,
                                   token_channels=K if self.use_tokens else 0, adain=cfg.adain)
        if self.use_tokens:  # one set per class of each label: a scalar and one image per block
            self.token_scalar = nn.Parameter(torch.randn(K, 2))
            self.token_images = nn.ParameterList(
                nn.Parameter(torch.randn(K, 2, r, r)) for r in self.decoder.token_sizes)

    # ----- pieces -------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def prior_u(self) -> tuple[Tensor, Tensor]:
        """p(u_k | y_k = c) as (loc, logvar), each (K, 2, U); PA1's Dirac has logvar -inf."""
        K, U = self.n_labels, self.u_dim
        if self.structure.u_prior == "learned":
            return self.prior_u_loc, 2 * F.softplus(self.prior_u_scale).clamp(min=1e-3).log()
        loc = torch.zeros(K, 2, U, device=self.device)
        logvar = torch.zeros(K, 2, U, device=self.device)
        if self.structure.u_prior == "dirac0":
            logvar[:, 0] = -math.inf
        elif self.structure.u_prior == "narrow0":
            logvar[:, 0] = math.log(PA2_Y0_VAR)
        return loc, logvar

    def _heads(self, h: Tensor, y_soft: Tensor):
        """Posterior parameters of z and u from the trunk features h (B, H) and labels (B, K, 2)."""
        B, K, U = h.shape[0], self.n_labels, self.u_dim
        given_y = self.structure.posterior_given_y
        hz = torch.cat([h, y_soft.reshape(B, -1)], 1) if given_y else h
        mu_z, logvar_z = self.head_z(hz).chunk(2, dim=1)  # (B, Z) each
        if not U:
            empty = h.new_zeros(B, K, 0)
            return mu_z, logvar_z, empty, empty
        outs = [head(torch.cat([h, y_soft[:, k]], 1) if given_y else h) for k, head in enumerate(self.head_u)]
        mu_u, logvar_u = torch.stack(outs, 1).chunk(2, dim=2)  # (B, K, U) each
        return mu_z, logvar_z, mu_u, logvar_u

    def _logits_from_u(self, u: Tensor) -> Tensor:
        """q(y_k | u_k) logits: u (..., K, U) -> (..., K, 2)."""
        return torch.stack([head(u[..., k, :]) for k, head in enumerate(self.head_y_from_u)], -2)

    def _decode(self, y_soft: Tensor, z: Tensor, u: Tensor, style: Tensor | None = None) -> Tensor:
        """d_theta(y, z, u) (Fig. 1): y_soft (B, K, 2), z (B, Z), u (B, K, U) -> x_hat (B, 3, S, S).

        z enters the FC and, by default, also styles the AdaIN blocks (Eq. 2: the decoder sees only
        y, z, u); `style` lets training pass mu_z instead (model.adain_style = "mean", the authors' code).
        """
        B = z.shape[0]
        s = self.structure
        if s.u_gated:
            u = u * y_soft[..., 1:]  # PA1: u multiplied by y
        parts, token_images = [z], []
        if self.use_tokens:
            parts.append((y_soft * self.token_scalar).sum(-1))  # (B, K): the scalar token t0[y]
            token_images = [torch.einsum("bkc,kcrs->bkrs", y_soft, t) for t in self.token_images]  # (B, K, r, r)
        elif s.y_latent:
            parts.append(y_soft.reshape(B, -1))  # tokens=False: y only through the FC input
        if self.u_dim:
            parts.append(u.reshape(B, -1))
        return self.decoder(torch.cat(parts, 1), z if style is None else style, token_images)

    # ----- the API used by training, evaluation and notebooks -----------------------------
    def forward(self, x: Tensor, y: Tensor, supervised: Tensor, tau: float = 0.05,
                n_class_samples: int = 100) -> ForwardOut:
        """Training pass: labelled rows use y, unlabelled rows a Gumbel-softmax sample of q(y|x).

        q(y|u) models (Joy et al.): `logits_y` is q(y|u) at the decoded sample with u detached (their
        classifier term), `logits_y_samples` q(y|u) over `n_class_samples` fresh samples of q(u|x),
        whose mean estimates q(y|x) and trains the encoder.
        """
        h = self.trunk(x)
        B, K = h.shape[0], self.n_labels
        logits, samples = None, None
        if self.head_y is not None:
            logits = self.head_y(h).reshape(B, K, 2)
            y_relaxed = F.gumbel_softmax(logits, tau=tau, hard=False)
            y_soft = torch.where(supervised[:, None, None], one_hot(y), y_relaxed)
        else:
            y_soft = one_hot(y)  # q(y|u) models: the decoder never sees y
        mu_z, logvar_z, mu_u, logvar_u = self._heads(h, y_soft)
        z = reparameterize(mu_z, logvar_z)
        u = reparameterize(mu_u, logvar_u)
        if self.head_y_from_u is not None:
            fresh = mu_u + torch.exp(0.5 * logvar_u) * torch.randn(n_class_samples, *mu_u.shape, device=x.device)
            samples = self._logits_from_u(fresh)  # (S, B, K, 2)
            logits = self._logits_from_u(u.detach())  # (B, K, 2)
        x_hat = self._decode(y_soft, z, u, style=z if self.cfg.adain_style == "sample" else mu_z)
        loc, logvar = self.prior_u()
        return ForwardOut(x_hat, logits, y_soft, mu_z, logvar_z, mu_u, logvar_u, samples, loc, logvar)

    def encode(self, x: Tensor, y: Tensor | None = None) -> Encoding:
        """Posterior means and log-variances; y given (B, K) or set to the most likely label."""
        h = self.trunk(x)
        B, K = h.shape[0], self.n_labels
        if self.head_y is not None:
            logits = self.head_y(h).reshape(B, K, 2)
            y_used = logits.argmax(-1) if y is None else y
            mu_z, logvar_z, mu_u, logvar_u = self._heads(h, one_hot(y_used))
        else:
            mu_z, logvar_z, mu_u, logvar_u = self._heads(h, None)
            logits = self._logits_from_u(mu_u)
            y_used = logits.argmax(-1) if y is None else y
        probs = logits.softmax(-1)[..., 1]
        return Encoding(logits, probs, y_used.float(), mu_z, logvar_z, mu_u, logvar_u)

    def decode(self, y: Tensor, z: Tensor, u: Tensor) -> Tensor:
        """Images from latents: y (B, K) or (B, K, 2), z (B, Z), u (B, K, U)."""
        return self._decode(soft_labels(y).to(z.device), z, u)

    def classify(self, x: Tensor) -> Tensor:
        """P(y_k = 1 | x), (B, K), from the model's own classifier."""
        return self.encode(x).probs_y

    def reconstruct(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        """Decode the posterior means (z = mu_z, u = mu_u) with y given or predicted."""
        e = self.encode(x, y)
        return self.decode(e.y, e.mu_z, e.mu_u)

    def sample_u(self, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Draw u ~ p(u | y) for labels y (B, K) -> (B, K, U)."""
        loc, logvar = self.prior_u()
        idx = y.long().clamp(0, 1)  # (B, K)
        k = torch.arange(self.n_labels, device=idx.device)
        mu, lv = loc[k, idx], logvar[k, idx]  # (B, K, U)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device if generator is None else generator.device)
        return torch.where(torch.isinf(lv), torch.zeros_like(mu), mu + torch.exp(0.5 * lv) * eps.to(mu.device))

    def sample(self, n: int, y: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """New images from the prior: y given (n, K) or uniform, z ~ N(0, I), u ~ p(u|y)."""
        dev = self.device
        gdev = generator.device if generator is not None else dev
        if y is None:
            y = torch.randint(0, 2, (n, self.n_labels), generator=generator, device=gdev)
        z = torch.randn(n, self.z_dim, generator=generator, device=gdev).to(dev)
        return self.decode(y.to(dev).float(), z, self.sample_u(y.to(dev), generator))

    def resample_u(self, x: Tensor, k: int = 0, y: Tensor | None = None,
                   generator: torch.Generator | None = None) -> Tensor:
        """Keep z and the other labels of x, draw new features u_k ~ p(u_k | y_k), decode."""
        e = self.encode(x, y)
        u = e.mu_u.clone()
        u[:, k] = self.sample_u(e.y, generator)[:, k]
        return self.decode(e.y, e.mu_z, u)


def build_model(cfg: ModelConfig) -> JDVAE:
    """The model a ModelConfig describes."""
    return JDVAE(cfg)
