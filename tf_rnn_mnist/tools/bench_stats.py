"""What makes a benchmark's verdict trustworthy on a shared machine: which machine it was,
how busy the machine was during each window, and how sure the ratio is.

- machine(): the CPU model, vendor, the SIMD/matrix ISA extensions TensorFlow's kernels use,
  and the core counts, recorded with every benchmark (machines of one kind differ).
- Contention: the share of the machine's CPU time that processes other than the timed side
  used during its window, from /proc/stat (all CPUs) minus /proc/PID/stat (the side). A window
  above CONTENTION_LIMIT is flagged and its round repeated.
- ratio_interval(): the geometric mean of per-round ratios and its Student-t confidence interval
  on the log scale (ratios of times are log-normal-ish, and a 2x and a 0.5x round average to 1).
- The stopping rule: at least `min_rounds` counted rounds; then more until every ratio's
  interval is narrower than +-`precision` (relative), or `max_rounds` have run.
"""

import math
import os
import time

CONTENTION_LIMIT = 0.25  # other processes used more than a quarter of the machine: flagged
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni",
             "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "avx_vnni")


def machine(cpuinfo="/proc/cpuinfo"):
  """{cpu_model, vendor, isa, logical_cores, physical_cores} of this machine."""
  fields, physical = {}, set()
  try:
    with open(cpuinfo) as f:
      block = {}
      for line in f:
        if not line.strip():
          physical.add((block.get("physical id"), block.get("core id")))
          block = {}
          continue
        key, _, value = line.partition(":")
        block[key.strip()] = value.strip()
        fields.setdefault(key.strip(), value.strip())
      if block:
        physical.add((block.get("physical id"), block.get("core id")))
  except OSError:
    pass
  present = set(fields.get("flags", "").split())
  return {"cpu_model": fields.get("model name", "unknown"),
          "vendor": fields.get("vendor_id", "unknown"),
          "isa": [flag for flag in ISA_FLAGS if flag in present],
          "logical_cores": os.cpu_count(),
          "physical_cores": len(physical) if physical and None not in next(iter(physical))
                            else None}


def _busy_seconds(stat="/proc/stat"):
  """CPU-seconds all CPUs spent busy since boot (user, nice, system, irq, softirq, steal)."""
  with open(stat) as f:
    fields = [int(v) for v in f.readline().split()[1:]]
  idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
  return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _process_seconds(pid):
  """CPU-seconds process `pid` (all its threads) has used."""
  with open(f"/proc/{pid}/stat") as f:
    fields = f.read().rpartition(")")[2].split()
  return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Contention:
  """`with Contention(pid) as c:` around a window; then `c.share`: the fraction of the
  machine's CPU time that other processes used meanwhile (None where /proc is missing)."""

  def __init__(self, pid):
    self.pid, self.share = pid, None

  def __enter__(self):
    try:
      self._start = (time.monotonic(), _busy_seconds(), _process_seconds(self.pid))
    except (OSError, ValueError, IndexError):
      self._start = None
    return self

  def __exit__(self, *exc):
    if self._start is None:
      return
    try:
      now = (time.monotonic(), _busy_seconds(), _process_seconds(self.pid))
    except (OSError, ValueError, IndexError):
      return
    wall = now[0] - self._start[0]
    others = (now[1] - self._start[1]) - (now[2] - self._start[2])
    if wall > 0:
      self.share = max(0.0, others / (wall * os.cpu_count()))


def _t_quantile(p, df):
  from scipy import stats
  return float(stats.t.ppf(p, df))


def ratio_interval(ratios, confidence=0.95):
  """(geometric mean, low, high) of per-round ratios: a Student-t interval on log(ratio).
  With one round the interval is unknown: (ratio, None, None)."""
  logs = [math.log(r) for r in ratios]
  n = len(logs)
  mean = sum(logs) / n
  if n < 2:
    return math.exp(mean), None, None
  sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (n - 1))
  half = _t_quantile(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
  return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def precise_enough(ratios_by_side, precision):
  """Whether every ratio's interval lies within +-`precision` of its geometric mean."""
  for ratios in ratios_by_side.values():
    centre, low, high = ratio_interval(ratios)
    if low is None or high / centre - 1 > precision or 1 - low / centre > precision:
      return False
  return True


# What the port must reach, by the side it is compared with (issues 27 and 35).
TARGETS = {"fit": 1.0, "fit_builtin": 1.0, "jax": 1.0, "legacy": 1.0}
TARGETS_BY_VARIANT = {("multilayer", "legacy"): 1.3,
                      # PyTorch's nn.LSTM of the same shape (issue 35); the GRUs and
                      # static_lstmcell have none.
                      ("basic_lstm", "torch"): 1.0, ("static_lstm", "torch"): 1.0,
                      ("multilayer", "torch"): 1.0}


def target_for(variant_name, side):
  """The port's target against `side` on the variant of that name, or None."""
  return TARGETS_BY_VARIANT.get((variant_name, side), TARGETS.get(side))


def verdict(ratios, target):
  """'met' if the interval's low end reaches `target`, 'missed' if its high end is below it,
  else 'undecided' (more rounds would tell)."""
  _, low, high = ratio_interval(ratios)
  if low is None:
    return "undecided"
  return "met" if low >= target else "missed" if high < target else "undecided"


def decided(ratios_by_side, targets):
  """Whether every ratio that has a target (`targets`: {side: target}) is met or missed."""
  return all(verdict(ratios, targets[name]) != "undecided"
             for name, ratios in ratios_by_side.items() if name in targets)
