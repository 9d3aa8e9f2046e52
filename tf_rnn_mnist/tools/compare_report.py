"""compare's statistics and reports: per-variant summaries (mean, sd, TOST verdict), the
markdown table, matched-run curves and the plot. Results dicts in, text and figures out.
"""

import numpy as np

from tf_rnn_mnist import variants
from tf_rnn_mnist.tools.equivalence import ALPHA, VERDICT_RULE, p_values, verdict, welch


# ---------------------------------------------------------------------------------------------
# Per-variant summaries


def summarize(variant, runs):
  """Per-variant statistics from {(seed, side): results}."""
  v = variants.get_variant(variant)
  sides = {side: [r for (s, sd), r in sorted(runs.items()) if sd == side and r] for side in
           ("v1", "v2")}
  accuracy = {side: [r["test_accuracy"] for r in rs] for side, rs in sides.items()}
  seconds = {side: [r["train_seconds"] for r in rs] for side, rs in sides.items()}
  summary = {"variant": variant, "tutorial_reports": v.published_accuracy,
             "v1_framework": v.legacy.framework}
  for side in ("v1", "v2"):
    values = np.asarray(accuracy[side], float)
    summary[f"{side}_runs"] = len(values)
    summary[f"{side}_mean"] = float(values.mean()) if len(values) else None
    summary[f"{side}_sd"] = float(values.std(ddof=1)) if len(values) > 1 else None
    summary[f"{side}_seconds"] = float(np.mean(seconds[side])) if seconds[side] else None
  if accuracy["v1"] and accuracy["v2"]:
    # The 90% interval is the one TOST at alpha 0.05 reads; the 95% one, the difference test's.
    difference, interval = welch(accuracy["v1"], accuracy["v2"], confidence=1 - 2 * ALPHA)
    interval95 = welch(accuracy["v1"], accuracy["v2"], confidence=1 - ALPHA)[1]
    p_equivalence, p_difference = p_values(accuracy["v1"], accuracy["v2"])
    summary.update(difference=difference, interval=interval, interval95=interval95,
                   p_equivalence=p_equivalence, p_difference=p_difference,
                   verdict=verdict(p_equivalence, p_difference),
                   speed_ratio=summary["v1_seconds"] / summary["v2_seconds"])
  else:
    summary.update(difference=None, interval=None, interval95=None, p_equivalence=None,
                   p_difference=None, verdict="no runs", speed_ratio=None)
  return summary


def matched_curves(runs):
  """Per seed: the v2 - v1 difference of the test-accuracy curves at the steps both logged."""
  curves = {}
  for seed in sorted({s for s, _ in runs}):
    v1, v2 = runs.get((seed, "v1")), runs.get((seed, "v2"))
    if not (v1 and v2):
      continue
    def curve(results):
      return {h["step"]: h["test_accuracy"] for h in results["history"] if "test_accuracy" in h}
    a, b = curve(v1), curve(v2)
    steps = sorted(set(a) & set(b))
    curves[seed] = {"steps": steps, "difference": [b[s] - a[s] for s in steps],
                    "final_difference": v2["test_accuracy"] - v1["test_accuracy"]}
  return curves


# ---------------------------------------------------------------------------------------------
# Reports


def _pm(mean, sd):
  if mean is None:
    return "-"
  return f"{mean:.4f}" + (f" +- {sd:.4f}" if sd is not None else "")


def table(summaries):
  rows = ["| variant | the tutorial reports | v1 (mean +- sd) | v2 (mean +- sd) | v2 - v1 [90% CI] | "
          "TOST p | t-test p | verdict | s/run v1 | s/run v2 | v1/v2 time |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
  for s in summaries:
    interval = (f" [{s['interval'][0]:+.4f}, {s['interval'][1]:+.4f}]" if s["interval"]
                else "")
    difference = f"{s['difference']:+.4f}{interval}" if s["difference"] is not None else "-"
    seconds = [f"{s[k]:.1f}" if s[k] is not None else "-" for k in ("v1_seconds", "v2_seconds")]
    ratio = f"{s['speed_ratio']:.2f}x" if s["speed_ratio"] else "-"
    p = [f"{s[k]:.3g}" if s.get(k) is not None else "-" for k in ("p_equivalence",
                                                                  "p_difference")]
    rows.append(f"| {s['variant']} | {s['tutorial_reports']} | {_pm(s['v1_mean'], s['v1_sd'])} "
                f"(n={s['v1_runs']}) | {_pm(s['v2_mean'], s['v2_sd'])} (n={s['v2_runs']}) | "
                f"{difference} | {p[0]} | {p[1]} | {s['verdict']} | {seconds[0]} | "
                f"{seconds[1]} | {ratio} |")
  return rows


def write_markdown(path, args, summaries, failures, curves):
  lines = ["# v1 vs v2: the tutorials' graphs against the Keras port", "",
           f"Command: `{args}`", "",
           "Accuracy on the full 10k MNIST test set; v1 is the tutorial's TF1 graph (PyTorch for "
           "torch_lstm), v2 the Keras port; seconds are training time per run.", "",
           *table(summaries), "", f"Verdict rule: {VERDICT_RULE}", ""]
  if curves:
    lines += ["## Matched runs: v2 - v1 of the test-accuracy curves", ""]
    for variant, per_seed in curves.items():
      for seed, c in per_seed.items():
        largest = max((abs(d) for d in c["difference"]), default=0.0)
        lines.append(f"- {variant} seed {seed}: final {c['final_difference']:+.4f}, largest "
                     f"|difference| along the curve {largest:.4f} over {len(c['steps'])} "
                     "evaluations")
    lines.append("")
  if failures:
    lines += ["## Failed runs", ""] + [f"- {f}" for f in failures] + [""]
  with open(path, "w") as f:
    f.write("\n".join(lines))


def _curve(runs, side, key):
  """Mean over seeds of one history metric, at the steps every seed logged it."""
  histories = [{h["step"]: h[key] for h in r["history"] if key in h}
               for (_, sd), r in sorted(runs.items()) if sd == side and r]
  steps = sorted(set.intersection(*(set(h) for h in histories))) if histories else []
  return steps, [float(np.mean([h[s] for h in histories])) for s in steps]


def plot(path, all_runs):
  """Learning curves of v1 and v2, one panel per variant: the training-batch accuracy the tutorial
  logged (thin, mean of seeds) and the test accuracy (markers, per seed, the last is the full
  test set)."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  names = list(all_runs)
  columns = min(len(names), 4)
  rows = -(-len(names) // columns)
  fig, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.4 * rows), squeeze=False)
  style = {"v1": dict(color="tab:orange", linestyle="--"), "v2": dict(color="tab:blue")}
  for ax, name in zip(axes.flat, names):
    runs = all_runs[name]
    for side in ("v1", "v2"):
      steps, accuracy = _curve(runs, side, "train_accuracy")
      if steps:
        window = max(1, len(steps) // 20)
        smooth = np.convolve(accuracy, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1:], smooth, linewidth=1, alpha=0.45, **style[side],
                label=f"{side} train batches")
      for index, ((seed, sd), results) in enumerate(sorted(runs.items())):
        if sd != side or not results:
          continue
        points = sorted({(h["step"], h["test_accuracy"]) for h in results["history"]
                         if "test_accuracy" in h} | {(results["steps"],
                                                      results["test_accuracy"])})
        ax.plot(*zip(*points), marker="o", markersize=4, linewidth=1.5, **style[side],
                label=f"{side} test" if index < 2 else None)
    ax.set_title(name)
    ax.set_xlabel("updates")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), fontsize=7, loc="lower right")
  for ax in list(axes.flat)[len(names):]:
    ax.axis("off")
  fig.suptitle("v1 (orange, dashed: TF1 graph / PyTorch) vs v2 (blue: Keras port)")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
