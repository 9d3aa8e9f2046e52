"""The compare results the project keeps (docs/compare_results.json), behind the README's
variants table: per variant, the latest full-schedule comparison of v1 (the tutorial's
program) and v2 (this port).

    python -m tf_rnn_mnist compare --variants=all --seeds=10 --out=DIR       # measures
    python -m tf_rnn_mnist.tools.compare_results --keep=DIR/compare.json     # keeps its figures
    python -m tf_rnn_mnist.tools.readme_tables --readme=README.md            # the README's table

Only full schedules of independent runs are kept (a shortened or matched run answers another
question). Each entry is compare's own summary of the variant, with when and how it was
measured and, where the runs were kept, each seed's accuracy.
"""

import json
import os
import sys

from tf_rnn_mnist import variants
from tf_rnn_mnist.errors import ConfigError

KEPT = "docs/compare_results.json"
ABOUT = ("Per variant, the latest full-schedule comparison of v1 (the tutorial's program) and "
         "v2 (this port): compare's summary (python -m tf_rnn_mnist compare ... writes it in "
         "DIR/compare.json), kept by python -m tf_rnn_mnist.tools.compare_results "
         "--keep=DIR/compare.json; the README's variants table is generated from it.")


def _per_seed(report, name):
  return {side: {str(run["seed"]): run["results"]["test_accuracy"]
                 for run in report["runs"].get(name, [])
                 if run["side"] == side and run["results"]}
          for side in ("v1", "v2")}


def entries_of(report, source):
  """{variant: kept entry} from a compare.json's content; refuses what is not full-schedule,
  independent runs of both sides, without failures, of this project's variants."""
  if report["train_steps"] is not None:
    raise ConfigError(f"{source}: its runs were cut to {report['train_steps']} updates "
                      "(--train_steps); only full schedules of independent runs are kept.")
  if report["mode"] != "independent":
    raise ConfigError(f"{source}: its runs are {report['mode']} (--mode); only full schedules "
                      "of independent runs are kept.")
  if report["failures"]:
    raise ConfigError(f"{source}: {len(report['failures'])} of its runs failed (the first: "
                      f"{report['failures'][0]}); rerun the same compare command, which reruns "
                      "them, then keep it.")
  if not report["summaries"]:
    raise ConfigError(f"{source} compares no variant.")
  found = {}
  for summary in report["summaries"]:
    name = summary["variant"]
    if name not in variants.VARIANTS:
      raise ConfigError(f"{source}: {name!r} is not a variant of variants.py "
                        f"({', '.join(variants.NAMES)}).")
    if summary["v1_runs"] < 2 or summary["v2_runs"] < 2:
      raise ConfigError(f"{source}: {name} has {summary['v1_runs']} v1 and "
                        f"{summary['v2_runs']} v2 runs; at least 2 a side are kept.")
    found[name] = {**summary, "measured": report.get("finished_utc", "undated")[:10],
                   "command": report["command"], "per_seed": _per_seed(report, name)}
  return found


def _not_of_kind(path, what, error):
  """A file that is not what it should be, said without Python's wording of the error."""
  detail = f"no key {error}" if isinstance(error, KeyError) else "its content has another shape"
  return ConfigError(f"{path} is not {what} ({detail}).")


def _read(path, what, check):
  try:
    with open(path) as f:
      content = json.load(f)
    return check(content, path)
  except ConfigError:
    raise
  except OSError as e:
    raise ConfigError(f"cannot read {path}: {e.strerror or e}.") from None
  except ValueError as e:
    raise ConfigError(f"{path} is not JSON ({e}).") from None
  except (KeyError, TypeError, IndexError, AttributeError) as e:
    raise _not_of_kind(path, what, e) from None


def check_kept(kept, path):
  """The kept file's content, checked: entries of known variants, each with its figures."""
  entries = kept["variants"]
  if not isinstance(entries, dict) or not entries:
    raise ConfigError(f"{path} keeps no comparison.")
  numbers = ("v1_mean", "v2_mean", "v1_runs", "v2_runs")
  for name, entry in entries.items():
    if name not in variants.VARIANTS:
      raise ConfigError(f"{path}: {name!r} is not a variant of variants.py.")
    missing = [key for key in (*numbers, "verdict", "measured") if key not in entry]
    if missing:
      raise ConfigError(f"{path}: {name}'s entry has no {', '.join(missing)}.")
    for key in numbers:
      if not isinstance(entry[key], (int, float)):
        raise ConfigError(f"{path}: {name}'s {key} is {entry[key]!r}, not a number.")
  return kept


def keep(compare_json, kept_path=KEPT):
  """Merges a compare.json's variants into the kept results (each variant replaced whole)."""
  found, rule = _read(compare_json, "compare's compare.json",
                      lambda report, path: (entries_of(report, path), report["verdict_rule"]))
  kept = _read(kept_path, "compare_results' kept file", check_kept)
  kept.update(about=ABOUT, verdict_rule=rule)
  kept["variants"].update(found)
  kept["variants"] = {n: kept["variants"][n] for n in variants.NAMES if n in kept["variants"]}
  from tf_rnn_mnist.plumbing import atomic
  with atomic.staged_path(kept_path, ".json") as staged, open(staged, "w") as f:
    json.dump(kept, f, indent=1)
    f.write("\n")
  return sorted(found)


def _schedule(variant):
  split = variant.data_split
  per_epoch = split.steps_per_epoch(variant.batch_size, split.train_size(60000))
  updates = variant.schedule.train_steps(variant.batch_size, per_epoch)
  epochs = getattr(variant.schedule, "epochs", None)
  when = (f"{epochs} epoch{'s' if epochs > 1 else ''} ({updates} updates)" if epochs
          else f"{updates} updates")
  return f"{variant.learning_rate:g}, {variant.batch_size}, {when}"


def _accuracy(entry):
  if entry is None:
    return "not compared yet"
  return (f"{entry['v2_mean']:.4f} / {entry['v1_mean']:.4f} ({entry['v2_runs']} / "
          f"{entry['v1_runs']} seeds, {entry['verdict']}, {entry['measured']})")


def readme_table(kept, path):
  """The README's variants table: every row of variants.py, with its kept comparison."""
  check_kept(kept, path)
  lines = ["| variant | the tutorial's model | Adam lr, batch, schedule | the tutorial reports | "
           "test accuracy, v2 / v1 (seeds a side, verdict, measured) |",
           "|---|---|---|---|---|"]
  for name, variant in variants.VARIANTS.items():
    lines.append(f"| `{name}` | {variant.summary} | {_schedule(variant)} | "
                 f"{variant.published_accuracy} | {_accuracy(kept['variants'].get(name))} |")
  lines += ["", f"Mean full-test accuracy over random seeds, full schedules, from "
                f"[{os.path.basename(path)}]({path}); *equivalent*: the 90% Welch interval of "
                "v2 - v1 inside +-0.01 (TOST at a margin of one accuracy point)."]
  return "\n".join(lines) + "\n"


USAGE = ("usage: python -m tf_rnn_mnist.tools.compare_results --keep=DIR/compare.json "
         f"[--results={KEPT}]")


def main(argv):
  flags = dict(a.split("=", 1) for a in argv[1:] if a.startswith("--") and "=" in a)
  if len(flags) != len(argv) - 1 or "--keep" not in flags or set(flags) - {"--keep", "--results"}:
    sys.exit(USAGE)
  kept_path = flags.get("--results", KEPT)
  try:
    names = keep(flags["--keep"], kept_path)
  except ConfigError as e:
    sys.exit(f"error: {e}")
  except OSError as e:
    sys.exit(f"error: cannot write {kept_path}: {e.strerror or e}.")
  print(f"{kept_path}: kept {', '.join(names)}; the README's table: python -m "
        "tf_rnn_mnist.tools.readme_tables --readme=README.md")


if __name__ == "__main__":
  main(sys.argv)
