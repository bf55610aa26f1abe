"""Distributions drawn by inverse CDF from uniform numbers in [0, 1) (a column's stream): the normal (also under
the log-normal and the expressions' ``normal()``), truncated or not, and the Zipf ranks of a pool or a reference."""

from __future__ import annotations

import functools
import math

import numpy as np

_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
      -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01,
      -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00,
      4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
_P_LOW = 0.02425


def normal_ppf(p: np.ndarray) -> np.ndarray:
    """The standard normal's inverse CDF (Acklam's rational approximation, relative error below 1.2e-9), for p
    in [0, 1); computed in place, a pass per term, since it is on the hot path of every normal draw."""
    q = np.subtract(p, 0.5)
    r = q * q
    num = r * _A[0]
    for a in _A[1:]:
        num += a
        num *= r if a is not _A[-1] else 1.0
    num *= q
    den = r * _B[0]
    for b in _B[1:]:
        den += b
        den *= r
    den += 1.0
    num /= den
    tails = np.flatnonzero(np.abs(q) > 0.5 - _P_LOW)
    if len(tails):
        pt = np.asarray(p)[tails]
        t = np.sqrt(-2 * np.log(np.maximum(np.minimum(pt, 1 - pt), 1e-300)))
        xt = (((((_C[0] * t + _C[1]) * t + _C[2]) * t + _C[3]) * t + _C[4]) * t + _C[5]) / \
             ((((_D[0] * t + _D[1]) * t + _D[2]) * t + _D[3]) * t + 1)
        num[tails] = np.where(pt < 0.5, xt, -xt)
    return num


def normal_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def truncated_normal(u: np.ndarray, mean: float, sd: float, bounds=None) -> np.ndarray:
    """mean + sd * z with z standard normal, cut to ``bounds`` by drawing only inside them (inverse CDF)."""
    if bounds is None:
        return mean + sd * normal_ppf(u)
    a, b = normal_cdf((bounds[0] - mean) / sd), normal_cdf((bounds[1] - mean) / sd)
    return np.clip(mean + sd * normal_ppf(a + u * (b - a)), bounds[0], bounds[1])


def zipf_rank(u: np.ndarray, n: int, s: float) -> np.ndarray:
    """Rank r in [0, n) (0 the most frequent) with P(r) about proportional to (r + 1) ** -s: the inverse CDF of
    the continuous power law on [1, n + 1), floored."""
    if abs(s - 1.0) < 1e-12:
        x = np.exp(u * math.log(n + 1.0))
    else:
        x = (math.pow(n + 1.0, 1 - s) - 1.0) * u + 1.0
        power = 1.0 / (1 - s)
        if power == round(power) and 1 <= power <= 4:  # e.g. exponent 0.5: a square, cheaper than a power
            x = functools.reduce(np.multiply, [x] * int(power))
        else:
            x = x ** power
    return np.clip(np.floor(x).astype(np.int64) - 1, 0, n - 1)
