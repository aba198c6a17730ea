"""The statistics behind every interval and verdict of Table 1 and claims.md.

- Wilson score interval of a share k / n (Wilson 1927; Agresti & Coull 1998): never of width 0
  at 0 % or 100 %, unlike the Wald interval p ± z sqrt(p (1 − p) / n).
- McNemar's exact test of two paired 0/1 outcomes (McNemar 1947): only the discordant pairs
  count; under the null each is "a wins" with probability 1/2, a two-sided binomial test.
- Three-level bootstrap (Davison & Hinkley 1997, section 3.8, for the nesting; judges crossed with
  seeds and pairs): resample the training seeds, the judges, and the pairs within each drawn seed;
  the statistic of a replicate is its mean over the drawn seeds and, within each, over the drawn
  judges. Every drawn judge reads the same drawn pairs, so judges are paired with each other as the
  models are. With one judge (or judges that agree on every pair) it is the two-level bootstrap
  (seeds, then pairs) draw for draw: the judges come from a generator of their own. With one seed
  it is the bootstrap over judges and pairs. The interval is the percentile interval. Arrays of one
  seed are resampled with the same indices, so a statistic of several arrays (a − b on the same
  pairs, a ratio of two models on the same images) is paired.
All intervals are two-sided at LEVEL; the RNG is seeded from a name, so a page is reproducible.
"""
from __future__ import annotations

import math
import zlib
from typing import Callable, Sequence

import numpy as np

from jdvae.errors import JdvaeError

LEVEL = 0.95
Z95 = 1.959963984540054  # standard normal quantile at 0.975
REPS = 2000  # bootstrap replicates
BOOT_SEED = 18  # base seed of every bootstrap; each interval adds a hash of its name
ALPHA = 1.0 - LEVEL

Stat = Callable[..., np.ndarray]  # arrays (R, n) each -> (R,)


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval (lo, hi), as fractions, of k successes in n trials."""
    if n <= 0 or not 0 <= k <= n:
        raise JdvaeError(f"a Wilson interval needs 0 <= k <= n and n > 0 (got k={k}, n={n})")
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    # at k = 0 and k = n the score equation has the root p = 0 (resp. 1) exactly
    return (0.0 if k == 0 else max(0.0, centre - half)), (1.0 if k == n else min(1.0, centre + half))


def mcnemar(b: int, c: int) -> float:
    """Exact two-sided McNemar p-value of b pairs where only a succeeds and c where only b does."""
    if b < 0 or c < 0:
        raise JdvaeError(f"McNemar needs counts of discordant pairs >= 0 (got {b}, {c})")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2.0 ** n
    return min(1.0, 2.0 * tail)


def discordant(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """(pairs where a is 1 and b is 0, pairs where b is 1 and a is 0) of paired 0/1 outcomes."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise JdvaeError(f"paired outcomes differ in length ({a.shape} vs {b.shape}): not the same pairs")
    return int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum())


def rng_for(name: str) -> np.random.Generator:
    """The generator of the bootstrap named `name`: the same name, the same draws."""
    return np.random.default_rng([BOOT_SEED, zlib.crc32(name.encode())])


def _complete(arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """The aligned arrays of one seed as float (J, n): a judge-free array (n,) serves every judge; the positions
    where any array of any judge is NaN (a pair not scored) are left out."""
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    arrays = [a.reshape(1, -1) if a.ndim <= 1 else a for a in arrays]
    if len({a.shape[-1] for a in arrays}) != 1:
        raise JdvaeError(f"arrays of one seed differ in length ({[a.shape[-1] for a in arrays]}): not the same pairs")
    judges = {len(a) for a in arrays} - {1}
    if len(judges) > 1:
        raise JdvaeError(f"arrays of one seed were read by different numbers of judges ({sorted(judges)})")
    n_judges = judges.pop() if judges else 1
    arrays = [np.broadcast_to(a, (n_judges, a.shape[-1])) for a in arrays]
    ok = ~np.any([np.isnan(a).any(0) for a in arrays], axis=0)
    return tuple(a[:, ok] for a in arrays)


def bootstrap(groups: Sequence[Sequence[np.ndarray]], stat: Stat, name: str,
              reps: int | None = None) -> tuple[float, float, float] | None:
    """(estimate, lo, hi) of the mean over seeds and judges of stat(arrays of a seed read by a judge).

    `groups` holds, per training seed, the aligned per-pair arrays the statistic reads: (n,) for a
    judge-free measure, (J, n) for one read by J judges (the same J throughout); positions where any
    array is NaN (a pair not scored) are left out. None when no seed has a pair."""
    groups = [g for g in (_complete(g) for g in groups) if g[0].shape[-1]]
    if not groups:
        return None
    n_judges = {len(g[0]) for g in groups}
    if len(n_judges) > 1:
        raise JdvaeError(f"the seeds were read by different numbers of judges ({sorted(n_judges)})")
    n_judges = n_judges.pop()
    rng, k, reps = rng_for(name), len(groups), reps or REPS
    estimate = float(np.mean([stat(*g) for g in groups]))  # mean over seeds and judges
    seeds = rng.integers(0, k, size=(reps, k)) if k > 1 else np.zeros((reps, 1), dtype=np.int64)
    judges = (rng_for(name + "|judges").integers(0, n_judges, size=(reps, n_judges)) if n_judges > 1
              else np.zeros((reps, 1), dtype=np.int64))
    values = np.empty((reps, k))
    for s, g in enumerate(groups):  # every slot of a replicate draws its seed, then fresh pairs within it
        drawn = seeds == s  # (reps, k)
        idx = rng.integers(0, g[0].shape[-1], size=(int(drawn.sum()), g[0].shape[-1]))
        rows = np.nonzero(drawn)[0]  # the replicate of each drawn slot
        values[drawn] = np.mean([stat(*(a[judges[rows, t][:, None], idx] for a in g))
                                 for t in range(judges.shape[1])], axis=0)
    reps_values = values.mean(1)
    lo, hi = np.nanquantile(reps_values, [ALPHA / 2, 1 - ALPHA / 2])
    return estimate, float(lo), float(hi)


def mean(a: np.ndarray) -> np.ndarray:
    """Share or mean over pairs (last axis)."""
    return a.mean(-1)


def difference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """mean(a) − mean(b) on the same pairs."""
    return a.mean(-1) - b.mean(-1)


def ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """mean(a) / mean(b) on the same images."""
    return a.mean(-1) / b.mean(-1)


def closed(swap: np.ndarray, plain: np.ndarray) -> np.ndarray:
    """1 − Σ err(swap, truth) / Σ err(plain reconstruction, truth): the share of the error a swap closes."""
    return 1.0 - swap.mean(-1) / plain.mean(-1)


def closed_difference(swap_a, plain_a, swap_b, plain_b) -> np.ndarray:
    """closed share of model a − closed share of model b on the same pairs."""
    return closed(swap_a, plain_a) - closed(swap_b, plain_b)


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """(TPR + TNR) / 2 in percent; NaN for a resample without one of the classes."""
    pos, neg = y_true.sum(-1), (1 - y_true).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 50.0 * ((y_true * y_pred).sum(-1) / pos + ((1 - y_true) * (1 - y_pred)).sum(-1) / neg)


def worst_ratio(a: np.ndarray, *others: np.ndarray) -> np.ndarray:
    """mean(a) / the largest of the others' means, all on the same images."""
    return a.mean(-1) / np.max([o.mean(-1) for o in others], axis=0)


def rate_interval(groups: Sequence[np.ndarray], name: str) -> tuple[float, float, float] | None:
    """(estimate, lo, hi) in percent of a share over seeds, judges and pairs: the bootstrap above, widened to the
    Wilson interval of the pooled count, averaged over the judges (the bootstrap alone has width 0 at 0 % and
    100 %). `groups` holds per seed an array (n,), or (J, n) when J judges read the pairs."""
    boot = bootstrap([(g,) for g in groups], mean, name)
    if boot is None:
        return None
    scored = [a for a in (_complete((g,))[0] for g in groups) if a.shape[-1]]
    k = round(sum(float(a.sum()) / len(a) for a in scored))  # the count, averaged over the judges
    w_lo, w_hi = wilson(k, sum(a.shape[-1] for a in scored))
    return 100 * boot[0], 100 * min(boot[1], w_lo), 100 * max(boot[2], w_hi)


def decide(lo: float, hi: float, value: float = 0.0) -> bool | None:
    """True when the interval lies above `value`, False when below, None when it contains it."""
    return True if lo > value else False if hi < value else None


def mean_std(values: list[float | None]) -> tuple[float | None, float | None]:
    """Mean and (population) std over seeds, ignoring undefined values."""
    vals = [v for v in values if v is not None and not np.isnan(v)]
    if not vals:
        return None, None
    return float(np.mean(vals)), float(np.std(vals))
