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
from tf_rnn_mnist.compare_report import matched_curves, plot, summarize, table, write_markdown
from tf_rnn_mnist.data.flags import DataOptions
from tf_rnn_mnist.equivalence import VERDICT_RULE
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
  queue = [Run(n, seed, side) for n in names for seed in range(seeds) for side in ("v1", "v2")]
  all_runs, failures = {n: {} for n in names}, []
  for index, run in enumerate(queue, 1):
    label = f"[{index}/{len(queue)}] {run.variant} seed {run.seed} {run.side}"
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
