"""Training objectives, written for minimisation, per image and averaged over the batch.

`eq4_loss`: paper Eq. 4 (PA1, PA2, M2). `ccvae_loss`: Joy et al.'s bound for CCVAE2 with
Eq. 4's alpha, beta and reconstruction term. `joy_loss`: the same bound with Joy et al.'s own
likelihood and unit weights, for CCVAE. Both are pure functions of a `ForwardOut` and
return (total, terms) where terms holds named 0-dim tensors for logging (detached, on the
loss's device: the trainer reads them when it chooses, jdvae/vae/levers.py's TermLog).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from jdvae.config import TrainConfig
from jdvae.vae.model import ForwardOut, one_hot

LOG2 = math.log(2.0)


def gaussian_kl(mu: Tensor, logvar: Tensor, prior_mu: Tensor | float = 0.0,
                prior_logvar: Tensor | float = 0.0) -> Tensor:
    """KL(N(mu, e^logvar) || N(prior_mu, e^prior_logvar)) summed over the last dim (closed form)."""
    prior_logvar = torch.as_tensor(prior_logvar, dtype=mu.dtype, device=mu.device)
    prior_mu = torch.as_tensor(prior_mu, dtype=mu.dtype, device=mu.device)
    kl = 0.5 * (prior_logvar - logvar + (logvar.exp() + (mu - prior_mu) ** 2) / prior_logvar.exp() - 1)
    return kl.sum(-1)


def reconstruction(x_hat: Tensor, x: Tensor) -> Tensor:
    """Per-image mean squared error over C*H*W: -log p(x|y,z,u)/N with v = 1, the 1/2 dropped."""
    return (x_hat.float() - x.float()).pow(2).flatten(1).mean(1)


def u_kl_per_class(out: ForwardOut) -> Tensor:
    """KL(q(u_k|x,.) || p(u_k|y_k=c)) as (B, K, 2); exactly 0 where p(u|y=c) is a Dirac (PA1, y=0)."""
    mu, logvar = out.mu_u[:, :, None], out.logvar_u[:, :, None]  # (B, K, 1, U)
    loc, plogvar = out.prior_loc[None], out.prior_logvar[None]  # (1, K, 2, U)
    dirac = torch.isinf(plogvar).all(-1)  # (1, K, 2)
    kl = gaussian_kl(mu, logvar, loc, torch.where(torch.isinf(plogvar), torch.zeros_like(plogvar), plogvar))
    return torch.where(dirac, torch.zeros_like(kl), kl)


def _label_log_probs(logits: Tensor, y: Tensor) -> Tensor:
    """log q(y_k | .) of the given labels: logits (..., K, 2), y (B, K) -> (..., K)."""
    logp = logits.float().log_softmax(-1)
    idx = y.long().clamp(0, 1).expand(logp.shape[:-1])[..., None]
    return logp.gather(-1, idx)[..., 0]


def _logged(terms: dict[str, Tensor]) -> dict[str, Tensor]:
    """The named terms to log: detached fp32 0-dim tensors, left on the device (no host read here)."""
    return {k: v.detach().float() for k, v in terms.items()}


def eq4_loss(out: ForwardOut, x: Tensor, y: Tensor, supervised: Tensor, cfg: TrainConfig) -> tuple[Tensor, dict]:
    """Eq. 4 of the paper, negated; unlabelled rows use the Gumbel sample and beta*KL(q(y|x)||U)."""
    sup = supervised.float()  # (B,)
    labelled_rows = supervised.bool()  # (B,)
    recon = reconstruction(out.x_hat, x)
    kl_z = gaussian_kl(out.mu_z.float(), out.logvar_z.float())
    class_weight = torch.tensor([1.0, cfg.u_kl_scale_y1], device=x.device)  # c_0, c_1
    kl_u = (out.y_soft * class_weight * u_kl_per_class(out)).sum((-1, -2))  # (B,)
    log_q = out.logits_y.float().log_softmax(-1)  # (B, K, 2)
    nll_y = -_label_log_probs(out.logits_y, y).sum(-1)  # (B,) -log q(y|x) of the true labels
    kl_y = (log_q.exp() * (log_q + LOG2)).sum((-1, -2))  # (B,) KL(q(y|x) || uniform)
    K = out.logits_y.shape[1]
    label = torch.where(labelled_rows, cfg.alpha * nll_y + cfg.beta * K * LOG2, cfg.beta * kl_y)
    per_image = recon + cfg.beta * (kl_z + kl_u) + label
    total = per_image.mean()
    n_sup = sup.sum().clamp(min=1)
    terms = _logged({"loss": total, "recon": recon.mean(), "kl_z": kl_z.mean(), "kl_u": kl_u.mean(),
                     "nll_y": (sup * nll_y).sum() / n_sup})
    return total, terms


def _ccvae_bound(out: ForwardOut, x: Tensor, y: Tensor, supervised: Tensor, recon: Tensor,
                 alpha: float, beta: float, const: float = 0.0) -> tuple[Tensor, dict]:
    """Joy et al.'s bound: labelled rows weight the ELBO by q(y|u)/q(y|x); unlabelled rows sum over y exactly.

    `const` is the likelihood's constant per image on the loss's scale. It moves no gradient by itself, but on a
    labelled row w multiplies it, so it sets how hard the bound pulls on w (as in Joy et al.'s code, which keeps it)."""
    sup = supervised.float()
    labelled_rows = supervised.bool()  # (B,)
    kl_z = gaussian_kl(out.mu_z.float(), out.logvar_z.float())
    kl_u = u_kl_per_class(out)  # (B, K, 2)
    S = out.logits_y_samples.shape[0]
    log_qyu = _label_log_probs(out.logits_y, y).sum(-1)  # (B,) log q(y|u), u detached (their classifier term)
    log_qyx = (torch.logsumexp(_label_log_probs(out.logits_y_samples, y), 0) - math.log(S)).sum(-1)  # (B,)
    # w is formed on labelled rows only: an unlabelled row's (unused) ratio could overflow, and inf * 0 is NaN
    w = torch.exp(torch.where(labelled_rows, log_qyu - log_qyx, torch.zeros_like(log_qyu)))
    kl_u_true = (one_hot(y).to(kl_u.dtype) * kl_u).sum((-1, -2))
    K = kl_u.shape[1]
    labelled = w * (recon + const + beta * (kl_z + kl_u_true + log_qyu)) - alpha * log_qyx + beta * K * LOG2
    log_q = out.logits_y.float().log_softmax(-1)  # (B, K, 2)
    q = log_q.exp()
    unlabelled = recon + const + beta * (kl_z + (q * (kl_u + log_q + LOG2)).sum((-1, -2)))
    total = torch.where(labelled_rows, labelled, unlabelled).mean()
    n_sup = sup.sum().clamp(min=1)
    terms = _logged({"loss": total, "recon": recon.mean(), "kl_z": kl_z.mean(),
                     "kl_u": torch.where(labelled_rows, kl_u_true, (q * kl_u).sum((-1, -2))).mean(),
                     "nll_y": -torch.where(labelled_rows, log_qyx, torch.zeros_like(log_qyx)).sum() / n_sup})
    return total, terms


def ccvae_loss(out: ForwardOut, x: Tensor, y: Tensor, supervised: Tensor, cfg: TrainConfig) -> tuple[Tensor, dict]:
    """CCVAE2: Joy et al.'s bound with Eq. 4's alpha, beta and squared-error term, so only the structure differs."""
    return _ccvae_bound(out, x, y, supervised, reconstruction(out.x_hat, x), cfg.alpha, cfg.beta)


def laplace_reconstruction(x_hat: Tensor, x: Tensor) -> Tensor:
    """-log Laplace(x | x_hat, 1) / N on images mapped to [0, 1], constant dropped: mean |x - x_hat| / 2."""
    return (x_hat.float() - x.float()).abs().flatten(1).mean(1) / 2


def joy_loss(out: ForwardOut, x: Tensor, y: Tensor, supervised: Tensor, cfg: TrainConfig) -> tuple[Tensor, dict]:
    """CCVAE: Joy et al.'s own objective (Laplace likelihood of scale 1, unit weights), divided by N pixels, with
    the Laplace constant log 2 per pixel kept as their code keeps it: without it CCVAE's classifier collapsed at
    every lr tried (docs/learning_curves.md)."""
    n = x[0].numel()
    return _ccvae_bound(out, x, y, supervised, laplace_reconstruction(out.x_hat, x), 1.0 / n, 1.0 / n, const=LOG2)


OBJECTIVES = {"eq4": eq4_loss, "ccvae": ccvae_loss, "joy": joy_loss}


def loss_for(objective: str):
    """The loss function of a structure's objective name."""
    return OBJECTIVES[objective]
