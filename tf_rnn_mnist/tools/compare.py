"""Did the migration change the results? v1 (the tutorial's TF1 graph, or PyTorch) against v2 (the
Keras port), several seeds each, with statistics a reviewer can check.

    python -m tf_rnn_mnist compare --variants=static_lstm,static_gru --seeds=2 \
        --train_steps=100 --out=DIR

Every run is its own process (the TF1 graphs need TF_USE_LEGACY_KERAS before TensorFlow is
imported). Writes DIR/compare.md, DIR/compare.json, DIR/compare.png and TensorBoard logs of both
sides under DIR/tb (`tensorboard --logdir DIR/tb` overlays them). Rerunning with the same DIR
reuses the runs that finished under the same settings, versions and code (the others run again,
and it says why); a run that fails is reported with its error, the others go on.

independent mode: each side initialises itself (its own seed). matched mode: v1 saves its initial
weights and both sides start from them and consume the same recorded batch order.
"""

import dataclasses
import glob
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
import time

from absl import flags
import numpy as np

from tf_rnn_mnist.plumbing import atomic
from tf_rnn_mnist.plumbing import cli
from tf_rnn_mnist.plumbing import outputs
from tf_rnn_mnist.plumbing import results as results_io
from tf_rnn_mnist import variants
from tf_rnn_mnist.tools.compare_report import matched_curves, plot, summarize, table, write_markdown
from tf_rnn_mnist.data.flags import DataOptions
from tf_rnn_mnist.tools.equivalence import VERDICT_RULE
from tf_rnn_mnist.errors import ConfigError, Interrupted, OutputError, TrainingError
from tf_rnn_mnist.plumbing.run_lock import RunLock

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


# Installed versions that change what a run computes; a result made under others is stale.
VERSIONED = ("tensorflow", "keras", "tf-keras", "numpy", "torch", "tf_rnn_mnist")


def code_digest(packages):
  """sha256 (16 hex digits) of the .py files of `packages` (import names), path by path.

  The package's version does not change when its code does: without this, a rerun after a
  code change reused the results the old code computed."""
  digest = hashlib.sha256()
  for package in packages:
    root = os.path.dirname(importlib.util.find_spec(package).origin)
    for path in sorted(glob.glob(os.path.join(root, "**", "*.py"), recursive=True)):
      digest.update(f"{package}/{os.path.relpath(path, root)}\0".encode())
      with open(path, "rb") as f:
        digest.update(f.read())
  return digest.hexdigest()[:16]


def run_spec(run, train_steps, mode, data):
  """Everything that defines a run's result; a finished run is reused only under an equal
  spec (saved beside it as SIDE.spec.json)."""
  legacy = variants.get_variant(run.variant).legacy
  return {"variant": run.variant, "side": run.side, "seed": run.seed,
          "train_steps": train_steps, "mode": mode, "data": data.args(),
          "versions": results_io.versions(*VERSIONED),
          "code": code_digest(legacy.code if run.side == "v1" else ("tf_rnn_mnist",))}


def _spec_path(run, out):
  return os.path.join(run.directory(out), f"{run.side}.spec.json")


def _saved_spec(run, out):
  """The spec a finished run was made under, or None (no record, or unreadable)."""
  try:
    with open(_spec_path(run, out)) as f:
      return json.load(f)
  except (OSError, ValueError):
    return None


def reusable(run, out, spec):
  """The finished results of `run` if they were made under `spec`, else None."""
  return read_results(run.results_path(out)) if _saved_spec(run, out) == spec else None


def stale_reason(run, out, spec):
  """Why finished results of `run` cannot be reused (None if there are none)."""
  if read_results(run.results_path(out)) is None:
    return None
  saved = _saved_spec(run, out)
  if saved is None:
    return "no record of the settings it ran with"
  return "; ".join(f"{key} {saved.get(key)!r} there, {value!r} now"
                   for key, value in spec.items() if saved.get(key) != value)


def execute(run, out, train_steps, mode, data, runner=cli.run_child, rerun=False):
  """Runs one side of one seed unless it already finished under the same spec (and `rerun`
  is not asked); returns (results, error)."""
  spec = run_spec(run, train_steps, mode, data)
  finished = None if rerun else reusable(run, out, spec)
  if finished is not None:
    return finished, None
  for stale in (run.results_path(out), _spec_path(run, out)):
    if os.path.exists(stale):
      os.remove(stale)
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
    results_io.write_json_atomically(_spec_path(run, out), spec, "the run's settings")
    return results, None
  with open(log_path) as log:
    lines = [line.strip() for line in log if line.strip()]
  last = lines[-1] if lines else "no output"
  return None, f"exit {done.returncode}: {last} (log: {log_path})"


# ---------------------------------------------------------------------------------------------
# The comparison


def compare(names, seeds, out, train_steps=None, mode="independent", data=DataOptions(),
            runner=cli.run_child, say=print):
  """Runs (or reuses) every run, then writes the reports; returns the compare.json content."""
  if seeds < 1:
    raise ConfigError(f"--seeds must be at least 1, got {seeds}.")
  if mode not in ("independent", "matched"):
    raise ConfigError(f"--mode must be independent or matched, got {mode!r}.")
  if train_steps is not None and train_steps < 1:
    raise ConfigError(f"--train_steps must be a positive integer, got {train_steps}.")
  outputs.check_writable_dir("out", out)
  with RunLock(out, "out"):
    return _compare(names, seeds, out, train_steps, mode, data, runner, say)


def _compare(names, seeds, out, train_steps, mode, data, runner, say):
  queue = [Run(n, seed, side) for n in names for seed in range(seeds) for side in ("v1", "v2")]
  all_runs, failures, ran = {n: {} for n in names}, [], set()
  for index, run in enumerate(queue, 1):
    label = f"[{index}/{len(queue)}] {run.variant} seed {run.seed} {run.side}"
    spec = run_spec(run, train_steps, mode, data)
    reused = reusable(run, out, spec) is not None
    stale = None if reused else stale_reason(run, out, spec)
    if stale:
      say(f"{label}: not reusing its earlier result ({stale}); running it again")
    # A matched v2 starts from its v1's weights and order: a fresh v1 needs a fresh v2.
    rerun = mode == "matched" and run.side == "v2" and (run.variant, run.seed) in ran
    tic = time.perf_counter()
    if (mode == "matched" and run.side == "v2"
        and all_runs[run.variant].get((run.seed, "v1")) is None):
      results, error = None, "skipped: its matched v1 run failed"
    else:
      try:
        results, error = execute(run, out, train_steps, mode, data, runner, rerun=rerun)
      except Interrupted as e:  # the run in progress got the signal too, and has ended
        finished = sum(r is not None for per in all_runs.values() for r in per.values())
        raise Interrupted(e.signum, f"{e} {label} was stopped; the {finished} finished runs "
                          f"are kept in {out}, and the same command reuses them.") from None
      if not reused or rerun:
        ran.add((run.variant, run.seed))
        reused = False
    all_runs[run.variant][(run.seed, run.side)] = results
    if error:
      failures.append(f"{run.variant} seed {run.seed} {run.side}: {error}")
      say(f"{label}: FAILED {error}")
    else:
      how = "reused" if reused else f"{time.perf_counter() - tic:.0f} s"
      say(f"{label}: test accuracy {results['test_accuracy']:.4f} ({how})")
  summaries = [summarize(n, all_runs[n]) for n in names]
  curves = ({n: matched_curves(all_runs[n]) for n in names} if mode == "matched" else {})
  args = ("python -m tf_rnn_mnist compare --variants=" + ",".join(names) + f" --seeds={seeds}"
          + (f" --train_steps={train_steps}" if train_steps else "") + f" --mode={mode}"
          + f" --out={out}")
  report = {"command": args, "finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "mode": mode, "seeds": seeds, "train_steps": train_steps,
            "verdict_rule": VERDICT_RULE, "summaries": summaries, "failures": failures,
            "matched_curves": {n: {str(s): c for s, c in per.items()} for n, per in curves.items()},
            "runs": {n: [{"seed": s, "side": side, "results": r}
                         for (s, side), r in sorted(runs.items())]
                     for n, runs in all_runs.items()}}
  _write_reports(out, report, args, summaries, failures, curves, all_runs)
  say("\n".join(table(summaries)))
  say(f"Verdict rule: {VERDICT_RULE}")
  say(f"Wrote {out}/compare.md, compare.json, compare.png; tensorboard --logdir {out}/tb")
  if mode == "independent" and train_steps is None:
    say(f"To keep these figures as the README's: python -m tf_rnn_mnist.tools.compare_results "
        f"--keep={out}/compare.json")
  return report


def _write_reports(out, report, args, summaries, failures, curves, all_runs):
  """compare.json, .md and .png, each written whole beside its path and then renamed: a full
  disk leaves the previous reports as they were, and says so."""
  writers = (("compare.json", lambda p: _dump_json(p, report)),
             ("compare.md", lambda p: write_markdown(p, args, summaries, failures, curves)),
             ("compare.png", lambda p: plot(p, all_runs)))
  for name, write in writers:
    try:
      with atomic.staged_path(os.path.join(out, name), os.path.splitext(name)[1]) as staged:
        write(staged)
    except OSError as e:
      raise OutputError(f"Could not write {os.path.join(out, name)} ({e}); the previous "
                        f"reports in {out} are unchanged, and the finished runs are kept: "
                        "rerunning the same command reuses them.") from None


def _dump_json(path, value):
  with open(path, "w") as f:
    json.dump(value, f, indent=2)


def define_flags():
  from tf_rnn_mnist.data import flags as data_flags
  flags.DEFINE_string("variants", "all", "all, or a comma-separated list of variants.")
  flags.DEFINE_integer("seeds", 3, "Runs per side and variant (seeds 0..N-1).", lower_bound=1)
  flags.DEFINE_integer("train_steps", None, "Override every run's schedule (default: the "
                       "tutorials' full schedules).")
  flags.DEFINE_enum("mode", "independent", ["independent", "matched"],
                    "independent: each side initialises itself; matched: same initial weights "
                    "and batch order on both sides.")
  flags.DEFINE_string("out", None, "Output directory; rerunning with it reuses the runs "
                      "that finished under the same settings, versions and code.")
  data_flags.define_data_flags()
  flags.mark_flag_as_required("out")


def check_failures(report, out):
  """A comparison with failed runs ends with status 1 (its reports are written first): a
  script must not take a table of fewer runs for the whole comparison."""
  failures = report["failures"]
  if failures:
    runs = sum(len(r) for r in report["runs"].values())
    raise TrainingError(f"{len(failures)} of {runs} runs failed (listed above and in "
                        f"{out}/compare.md); the same command reruns only those, reusing the "
                        "others.")


def main(argv):
  f = flags.FLAGS
  check_failures(compare(variants.parse_names(f.variants), f.seeds, f.out, f.train_steps,
                         f.mode, DataOptions.from_flags(f)), f.out)


def run_main():
  define_flags()
  cli.run_tool(main)


if __name__ == "__main__":
  run_main()
