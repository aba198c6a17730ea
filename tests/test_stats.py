"""The statistics of claims.md against closed forms and textbook cases."""
import math

import numpy as np
import pytest
import torch

from jdvae.errors import JdvaeError
from jdvae.report import stats
from jdvae.evaluate.metrics import donor_match, donor_outcomes

Z = stats.Z95


def score_bound(k, n, upper):
    """The Wilson bound by bisection on its definition: |p̂ − p| = z sqrt(p (1 − p) / n)."""
    p_hat = k / n
    lo, hi = (p_hat, 1.0) if upper else (0.0, p_hat)
    inside = lambda p: abs(p_hat - p) <= Z * math.sqrt(p * (1 - p) / n)  # noqa: E731
    for _ in range(200):
        mid = (lo + hi) / 2
        if inside(mid) == upper:  # upper: move right while inside; lower: move left while inside
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def test_wilson_at_zero_and_all_has_the_closed_form_width():
    lo, hi = stats.wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(Z ** 2 / (10 + Z ** 2))  # 0.2775
    lo, hi = stats.wilson(10, 10)
    assert hi == 1.0 and lo == pytest.approx(10 / (10 + Z ** 2))  # 0.7225
    assert hi - lo > 0.25  # the Wald interval would have width 0 here


@pytest.mark.parametrize("k,n", [(81, 263), (1, 7), (50, 100), (999, 1000)])
def test_wilson_solves_the_score_equation(k, n):
    lo, hi = stats.wilson(k, n)
    assert lo == pytest.approx(score_bound(k, n, upper=False), abs=1e-9)
    assert hi == pytest.approx(score_bound(k, n, upper=True), abs=1e-9)


def test_wilson_of_newcombes_example():
    lo, hi = stats.wilson(81, 263)  # Newcombe (1998), Stat. Med. 17, Table I: 0.2553 to 0.3662
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)


@pytest.mark.parametrize("k,n", [(-1, 5), (6, 5), (0, 0)])
def test_wilson_refuses_impossible_counts(k, n):
    with pytest.raises(JdvaeError, match="Wilson"):
        stats.wilson(k, n)


def two_sided_by_probability(b, c):
    """The exact two-sided binomial p-value under p = 1/2: the mass of all outcomes no likelier than b."""
    n = b + c
    pmf = [math.comb(n, i) / 2 ** n for i in range(n + 1)]
    return min(1.0, sum(q for q in pmf if q <= pmf[b] * (1 + 1e-12)))


@pytest.mark.parametrize("b,c,expected", [(1, 9, 22 / 1024), (0, 5, 2 / 32), (5, 5, 1.0), (0, 0, 1.0)])
def test_mcnemar_exact_on_small_tables(b, c, expected):
    assert stats.mcnemar(b, c) == pytest.approx(expected)
    assert stats.mcnemar(c, b) == pytest.approx(expected)
    if b + c:
        assert stats.mcnemar(b, c) == pytest.approx(two_sided_by_probability(b, c))


def test_mcnemar_counts_only_the_discordant_pairs():
    a = np.array([1, 1, 1, 0, 0, 1, 0])
    b = np.array([1, 0, 0, 0, 1, 1, 0])
    assert stats.discordant(a, b) == (2, 1)
    with pytest.raises(JdvaeError, match="same pairs"):
        stats.discordant(a, b[:-1])


def test_bootstrap_of_a_constant_is_the_constant():
    est = stats.bootstrap([(np.full(50, 0.3),), (np.full(20, 0.3),)], stats.mean, "constant")
    assert est == pytest.approx((0.3, 0.3, 0.3))


def test_two_level_bootstrap_resamples_the_seeds():
    # two seeds, constant within: only the seed draw varies; its mean is 0, 1/2 or 1 with odds 1:2:1
    est, lo, hi = stats.bootstrap([(np.zeros(30),), (np.ones(30),)], stats.mean, "seeds")
    assert (est, lo, hi) == (0.5, 0.0, 1.0)


def test_pair_bootstrap_of_a_symmetric_mean_matches_the_normal_interval():
    x = np.tile([-1.0, 1.0], 200)  # mean 0, sd 1, n 400
    est, lo, hi = stats.bootstrap([(x,)], stats.mean, "symmetric", reps=4000)
    half = Z / math.sqrt(len(x))
    assert est == 0.0 and lo == pytest.approx(-half, rel=0.1) and hi == pytest.approx(half, rel=0.1)


def test_paired_bootstrap_uses_the_same_pairs_for_both_arrays():
    x = np.random.default_rng(1).random(300)
    assert stats.bootstrap([(x, x)], stats.difference, "paired") == (0.0, 0.0, 0.0)
    assert stats.bootstrap([(x, x + 0.1)], stats.ratio, "paired") is not None


def test_bootstrap_is_reproducible_by_name_and_leaves_out_unscored_pairs():
    x = np.r_[np.random.default_rng(2).random(100), [np.nan] * 30]
    a, b = stats.bootstrap([(x,)], stats.mean, "n1"), stats.bootstrap([(x,)], stats.mean, "n1")
    assert a == b and a != stats.bootstrap([(x,)], stats.mean, "n2")
    assert a[0] == pytest.approx(np.nanmean(x))
    assert stats.bootstrap([(np.full(5, np.nan),)], stats.mean, "none") is None


def test_seed_variance_widens_the_interval_beyond_pair_sampling():
    seeds = [np.r_[np.ones(60), np.zeros(40)], np.r_[np.ones(90), np.zeros(10)]]  # 60 % and 90 %: runs disagree
    est, lo, hi = stats.bootstrap([(s,) for s in seeds], stats.mean, "two runs")
    pooled_lo, pooled_hi = stats.wilson(150, 200)  # as if the 200 pairs came from one run
    assert est == pytest.approx(0.75) and hi - lo > 2 * (pooled_hi - pooled_lo)
    assert lo < 0.65 and hi > 0.85  # the seed draw alone can give 60 % or 90 %


def test_rate_interval_contains_wilson_of_the_scored_pairs():
    est, lo, hi = stats.rate_interval([np.ones(10)], "all")
    assert est == 100.0 and hi == 100.0 and lo == pytest.approx(100 * 10 / (10 + Z ** 2))
    scored = np.r_[np.ones(8), np.zeros(2), [np.nan] * 90]  # 8 of 10 scored pairs
    est, lo, hi = stats.rate_interval([scored], "scored")
    w_lo, w_hi = stats.wilson(8, 10)
    assert est == pytest.approx(80.0) and lo <= 100 * w_lo and hi >= 100 * w_hi


def test_balanced_accuracy_statistic_in_closed_form():
    y = np.array([1, 1, 1, 1, 0, 0], float)
    p = np.array([1, 1, 1, 0, 0, 1], float)
    assert stats.balanced_accuracy(y[None], p[None])[0] == pytest.approx(50 * (3 / 4 + 1 / 2))


def flat(colours):
    """Images (B, 3, 4, 4) of one colour each."""
    return torch.tensor(colours, dtype=torch.float32)[:, :, None, None].expand(-1, -1, 4, 4).clone()


def test_donor_colour_rate_counts_only_the_scored_pairs():
    red, blue, green = [1.0, -1, -1], [-1.0, -1, 1], [-1.0, 1, -1]
    truth = flat([red, red, red, red])
    other = flat([blue, blue, red, red])  # pairs 3 and 4: the two donors look alike, not scored
    swap = flat([red, blue, green, blue])  # pair 1 right, pair 2 wrong
    mask = torch.ones(4, 4, 4, dtype=torch.bool)
    hits = donor_outcomes(swap, truth, mask, other, mask)
    assert np.array_equal(np.isnan(hits), [False, False, True, True]) and np.nansum(hits) == 1
    assert donor_match(swap, truth, mask, other, mask) == 50.0  # 1 of 2 scored; counting skipped pairs gives 25
    est, lo, hi = stats.rate_interval([hits], "donor")
    assert est == 50.0 and lo <= 100 * stats.wilson(1, 2)[0] and hi >= 100 * stats.wilson(1, 2)[1]


def test_decide_against_a_threshold():
    assert stats.decide(1.0, 2.0, 0.5) is True and stats.decide(-2.0, -1.0) is False
    assert stats.decide(-1.0, 1.0) is None


def test_judges_that_agree_on_every_pair_give_the_two_level_interval_exactly():
    rng = np.random.default_rng(3)
    seeds = [(rng.random(120) < p).astype(float) for p in (0.6, 0.7, 0.8)]
    two_level = stats.bootstrap([(s,) for s in seeds], stats.mean, "agree")
    both = stats.bootstrap([(np.stack([s, s]),) for s in seeds], stats.mean, "agree")
    assert both == two_level  # the judge draw comes from its own generator: the same seeds and pairs are drawn
    assert stats.rate_interval([np.stack([s, s]) for s in seeds], "agree") == stats.rate_interval(seeds, "agree")
    one = stats.bootstrap([(s[None],) for s in seeds], stats.mean, "agree")
    assert one == two_level  # one judge as (1, n) is the judge-free (n,) array


def test_judge_disagreement_widens_the_interval_and_the_estimate_is_their_mean():
    x = np.r_[np.ones(70), np.zeros(30)]
    y = np.r_[np.ones(90), np.zeros(10)]  # the second judge reads 20 more of the same 100 pairs right
    est, lo, hi = stats.bootstrap([(np.stack([x, y]),)], stats.mean, "judges")
    _, lo1, hi1 = stats.bootstrap([(np.stack([x, x]),)], stats.mean, "judges")
    assert est == pytest.approx(0.8) and hi - lo > hi1 - lo1
    assert lo < 0.75 and hi > 0.85  # the judge draw alone gives 70 %, 80 % or 90 %


def test_paired_difference_pairs_the_models_under_the_same_drawn_judge():
    a = np.stack([np.r_[np.ones(60), np.zeros(40)], np.r_[np.ones(90), np.zeros(10)]])  # judges 30 points apart
    b = a - 0.1  # each judge scores b 0.1 below a on every pair: a − b is 0.1 whatever judge and pairs are drawn
    est, lo, hi = stats.bootstrap([(a, b)], stats.difference, "paired judges")
    assert est == pytest.approx(0.1) and lo == pytest.approx(0.1) and hi == pytest.approx(0.1)
    with pytest.raises(JdvaeError, match="judges"):
        stats.bootstrap([(a, np.stack([b[0], b[0], b[1]]))], stats.difference, "mismatch")
