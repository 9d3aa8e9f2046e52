"""Did the migration change the results? v1 (the seed's TF1 graph, or PyTorch) against v2 (the
Keras port), several seeds each, with statistics a reviewer can check.

    python -m tf_rnn_mnist.compare --variants=static_lstm,static_gru --seeds=2 \
        --train_steps=100 --out=DIR

Every run is its own process (the TF1 graphs need TF_USE_LEGACY_KERAS before TensorFlow is
imported). Writes DIR/compare.md, DIR/compare.json, DIR/compare.png and TensorBoard logs of both
sides under DIR/tb (`tensorboard --logdir DIR/tb` overlays them). Rerunning with the same DIR
reuses the runs that finished; a run that fails is reported with its error, the others go on.

independent mode: each side initialises itself (its own seed). matched mode: v1 saves its initial
weights and both sides start from them and consume the same recorded batch order.
"""

import dataclasses
import json
import os
import subprocess
import sys
import time

from absl import flags
import numpy as np

from tf_rnn_mnist import cli
from tf_rnn_mnist import results as results_io
from tf_rnn_mnist import variants
from tf_rnn_mnist.data.flags import DataOptions
from tf_rnn_mnist.equivalence import ALPHA, VERDICT_RULE, p_values, verdict, welch
from tf_rnn_mnist.errors import ConfigError

@dataclasses.dataclass(frozen=True)
class Run:
  variant: str
  seed: int
  side: str  # "v1" (TF1 graph / PyTorch) or "v2" (Keras)

  def directory(self, out):
    return os.path.join(out, "runs", self.variant, f"seed{self.seed}")

  def results_path(self, out):
    return os.path.join(self.directory(out), f"{self.side}.json")

  def tensorboard_dir(self, out):
    return os.path.join(out, "tb", self.variant, f"{self.side}_seed{self.seed}")


def command(run, out, train_steps, mode, data_args):
  """The command line of one run."""
  legacy = variants.get_variant(run.variant).legacy
  directory = run.directory(out)
  common = [f"--seed={run.seed}", f"--results_json={run.results_path(out)}", *data_args]
  if train_steps:
    common.append(f"--train_steps={train_steps}")
  if mode == "matched":
    common.append(f"--batch_indices={os.path.join(directory, 'order.npy')}")
  initial, save_initial = legacy.initial_weights(directory)
  if run.side == "v1":
    cmd = legacy.command(*common, f"--logdir={run.tensorboard_dir(out)}")
    return cmd + (save_initial if mode == "matched" else [])
  cmd = [sys.executable, "-m", "tf_rnn_mnist.train", f"--variant={run.variant}", *common,
         f"--tensorboard_dir={run.tensorboard_dir(out)}", "--noprogress"]
  if mode == "matched":
    cmd.append(f"--init_from={initial}")
  return cmd


def read_results(path):
  """A finished run's results, or None (absent, or cut off before it was complete)."""
  try:
    with open(path) as f:
      results = json.load(f)
  except (OSError, ValueError):
    return None
  return results if all(k in results for k in results_io.RESULT_KEYS) else None


def execute(run, out, train_steps, mode, data, runner=subprocess.run):
  """Runs one side of one seed unless it already finished; returns (results, error)."""
  finished = read_results(run.results_path(out))
  if finished is not None:
    return finished, None
  os.makedirs(run.directory(out), exist_ok=True)
  if mode == "matched" and run.side == "v1":
    v = variants.get_variant(run.variant)
    num_train = data.train_examples(v)
    steps = train_steps or v.schedule.train_steps(
        v.batch_size, v.data_split.steps_per_epoch(v.batch_size, num_train))
    order = v.data_split.matched_order(num_train, v.batch_size, steps, run.seed)
    np.save(os.path.join(run.directory(out), "order.npy"), order)
  log_path = os.path.join(run.directory(out), f"{run.side}.log")
  with open(log_path, "w") as log:
    done = runner(command(run, out, train_steps, mode, data.args()), stdout=log,
                  stderr=subprocess.STDOUT)
  results = read_results(run.results_path(out))
  if done.returncode == 0 and results is not None:
    return results, None
  with open(log_path) as log:
    lines = [line.strip() for line in log if line.strip()]
  last = lines[-1] if lines else "no output"
  return None, f"exit {done.returncode}: {last} (log: {log_path})"


# ---------------------------------------------------------------------------------------------
# Per-variant summaries


def summarize(variant, runs):
  """Per-variant statistics from {(seed, side): results}."""
  v = variants.get_variant(variant)
  sides = {side: [r for (s, sd), r in sorted(runs.items()) if sd == side and r] for side in
           ("v1", "v2")}
  accuracy = {side: [r["test_accuracy"] for r in rs] for side, rs in sides.items()}
  seconds = {side: [r["train_seconds"] for r in rs] for side, rs in sides.items()}
  summary = {"variant": variant, "seed_reports": v.published_accuracy,
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
  rows = ["| variant | seed reports | v1 (mean +- sd) | v2 (mean +- sd) | v2 - v1 [90% CI] | "
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
    rows.append(f"| {s['variant']} | {s['seed_reports']} | {_pm(s['v1_mean'], s['v1_sd'])} "
                f"(n={s['v1_runs']}) | {_pm(s['v2_mean'], s['v2_sd'])} (n={s['v2_runs']}) | "
                f"{difference} | {p[0]} | {p[1]} | {s['verdict']} | {seconds[0]} | "
                f"{seconds[1]} | {ratio} |")
  return rows


def write_markdown(path, args, summaries, failures, curves):
  lines = ["# v1 vs v2: the seeds' graphs against the Keras port", "",
           f"Command: `{args}`", "",
           "Accuracy on the full 10k MNIST test set; v1 is the seed's TF1 graph (PyTorch for "
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
  """Learning curves of v1 and v2, one panel per variant: the training-batch accuracy the seed
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


# ---------------------------------------------------------------------------------------------
# The comparison


def compare(names, seeds, out, train_steps=None, mode="independent", data=DataOptions(),
            runner=subprocess.run, say=print):
  """Runs (or reuses) every run, then writes the reports; returns the compare.json content."""
  if seeds < 1:
    raise ConfigError(f"--seeds must be at least 1, got {seeds}.")
  if mode not in ("independent", "matched"):
    raise ConfigError(f"--mode must be independent or matched, got {mode!r}.")
  if train_steps is not None and train_steps < 1:
    raise ConfigError(f"--train_steps must be a positive integer, got {train_steps}.")
  cli.check_writable_dir("out", out)
  plan = [Run(n, seed, side) for n in names for seed in range(seeds) for side in ("v1", "v2")]
  all_runs, failures = {n: {} for n in names}, []
  for index, run in enumerate(plan, 1):
    label = f"[{index}/{len(plan)}] {run.variant} seed {run.seed} {run.side}"
    reused = read_results(run.results_path(out)) is not None
    tic = time.perf_counter()
    if (mode == "matched" and run.side == "v2"
        and all_runs[run.variant].get((run.seed, "v1")) is None):
      results, error = None, "skipped: its matched v1 run failed"
    else:
      results, error = execute(run, out, train_steps, mode, data, runner)
    all_runs[run.variant][(run.seed, run.side)] = results
    if error:
      failures.append(f"{run.variant} seed {run.seed} {run.side}: {error}")
      say(f"{label}: FAILED {error}")
    else:
      how = "reused" if reused else f"{time.perf_counter() - tic:.0f} s"
      say(f"{label}: test accuracy {results['test_accuracy']:.4f} ({how})")
  summaries = [summarize(n, all_runs[n]) for n in names]
  curves = ({n: matched_curves(all_runs[n]) for n in names} if mode == "matched" else {})
  args = ("python -m tf_rnn_mnist.compare --variants=" + ",".join(names) + f" --seeds={seeds}"
          + (f" --train_steps={train_steps}" if train_steps else "") + f" --mode={mode}"
          + f" --out={out}")
  report = {"command": args, "mode": mode, "seeds": seeds, "train_steps": train_steps,
            "verdict_rule": VERDICT_RULE, "summaries": summaries, "failures": failures,
            "matched_curves": {n: {str(s): c for s, c in per.items()} for n, per in curves.items()},
            "runs": {n: [{"seed": s, "side": side, "results": r}
                         for (s, side), r in sorted(runs.items())]
                     for n, runs in all_runs.items()}}
  with open(os.path.join(out, "compare.json"), "w") as f:
    json.dump(report, f, indent=2)
  write_markdown(os.path.join(out, "compare.md"), args, summaries, failures, curves)
  plot(os.path.join(out, "compare.png"), all_runs)
  say("\n".join(table(summaries)))
  say(f"Verdict rule: {VERDICT_RULE}")
  say(f"Wrote {out}/compare.md, compare.json, compare.png; tensorboard --logdir {out}/tb")
  return report


def define_flags():
  from tf_rnn_mnist.data import flags as data_flags
  flags.DEFINE_string("variants", "all", "all, or a comma-separated list of variants.")
  flags.DEFINE_integer("seeds", 3, "Runs per side and variant (seeds 0..N-1).")
  flags.DEFINE_integer("train_steps", None, "Override every run's schedule (default: the "
                       "seeds' full schedules).")
  flags.DEFINE_enum("mode", "independent", ["independent", "matched"],
                    "independent: each side initialises itself; matched: same initial weights "
                    "and batch order on both sides.")
  flags.DEFINE_string("out", None, "Output directory; rerunning with it reuses finished runs.")
  data_flags.define_data_flags()
  flags.mark_flag_as_required("out")


def main(argv):
  f = flags.FLAGS
  compare(variants.parse_names(f.variants), f.seeds, f.out, f.train_steps, f.mode,
          DataOptions.from_flags(f))


def run_main():
  define_flags()
  cli.run_tool(main)


if __name__ == "__main__":
  run_main()
