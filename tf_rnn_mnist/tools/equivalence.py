"""Did v2 change the results? The statistics of the v1-vs-v2 comparison: Welch intervals, the
standard equivalence test (TOST) and the difference test, on per-seed accuracies."""

import math

import numpy as np

# An equivalence margin of one accuracy point: a migration that moves accuracy by less than
# that did not change the results in any way a user would act on. The standard equivalence
# test (two one-sided tests, TOST) at ALPHA: equivalent when both one-sided Welch tests reject
# |v2 - v1| >= MARGIN, which is the same as the 90% Welch interval lying inside +-MARGIN.
MARGIN = 0.01
ALPHA = 0.05
VERDICT_RULE = (
    f"equivalent: TOST (two one-sided Welch t-tests, alpha {ALPHA}) rejects a difference of "
    f"+-{MARGIN} or more, i.e. the 90% Welch interval of v2 - v1 lies inside +-{MARGIN}; "
    f"differs: not equivalent, and Welch's two-sided t-test rejects equal means at alpha "
    f"{ALPHA} (the 95% interval excludes 0); inconclusive: neither (more seeds needed).")


def _welch_se_df(v1, v2):
  """Welch's standard error of mean(v2) - mean(v1) and its degrees of freedom."""
  var1, var2 = v1.var(ddof=1) / len(v1), v2.var(ddof=1) / len(v2)
  se = math.sqrt(var1 + var2)
  if se == 0:
    return 0.0, math.inf
  return se, (var1 + var2) ** 2 / (var1 ** 2 / (len(v1) - 1) + var2 ** 2 / (len(v2) - 1))


def welch(v1, v2, confidence=0.95):
  """Mean difference v2 - v1 and its Welch confidence interval (None with < 2 runs a side)."""
  from scipy import stats
  v1, v2 = np.asarray(v1, float), np.asarray(v2, float)
  difference = float(v2.mean() - v1.mean())
  if len(v1) < 2 or len(v2) < 2:
    return difference, None
  se, df = _welch_se_df(v1, v2)
  if se == 0:  # identical runs on each side: no spread to test with
    return difference, (difference, difference)
  half = float(stats.t.ppf((1 + confidence) / 2, df)) * se
  return difference, (difference - half, difference + half)


def p_values(v1, v2, margin=MARGIN):
  """(TOST p-value of |v2 - v1| < margin, Welch's two-sided p-value of equal means), or
  (None, None) with fewer than 2 runs a side. TOST's p is the larger of the two one-sided
  tests' (H0: difference <= -margin; H0: difference >= +margin)."""
  from scipy import stats
  v1, v2 = np.asarray(v1, float), np.asarray(v2, float)
  if len(v1) < 2 or len(v2) < 2:
    return None, None
  difference = float(v2.mean() - v1.mean())
  se, df = _welch_se_df(v1, v2)
  if se == 0:  # no spread: the difference is exactly known
    return float(abs(difference) >= margin), float(difference == 0)
  t = stats.t(df)
  p_tost = max(t.sf((difference + margin) / se), t.cdf((difference - margin) / se))
  return float(p_tost), float(2 * t.sf(abs(difference) / se))


def verdict(p_equivalence, p_difference, alpha=ALPHA):
  if p_equivalence is None:
    return "inconclusive"
  if p_equivalence < alpha:
    return "equivalent"
  if p_difference < alpha:
    return "differs"
  return "inconclusive"
