"""The benchmark's report: its markdown table and its chart (bench.py measures, this draws)."""

import os

from tf_rnn_mnist.errors import ConfigError


def table(rows):
  lines = ["| variant | side | ex/s median | ex/s min-max | port / side: geometric mean "
           "[95% interval] (per-round min-max) | target | start to first update (s) | start to "
           "first window done (s) |",
           "|---|---|---|---|---|---|---|---|"]
  for r in rows:
    for name, rate in r["examples_per_second"].items():
      ratio = r["ratio_of_port_to"].get(name)
      label = f"{name} ({r['framework_of_legacy']})" if name == "legacy" else name
      lines.append(
          f"| {r['variant']} | {label} | {rate['median']:,.0f} | {rate['min']:,.0f}-"
          f"{rate['max']:,.0f} | "
          + (_ratio_cell(ratio) if ratio else "- | -")
          + f" | {r['seconds_to_first_update'][name]:.1f}"
          + f" | {r['seconds_to_first_window'][name]:.1f} |")
    for name, error in r.get("errors", {}).items():
      lines.append(f"| {r['variant']} | {name} | failed: {error} | | | | | |")
  return "\n".join(lines)


def _ratio_cell(ratio):
  low, high = ratio["ci95"]
  interval = f" [{low:.2f}-{high:.2f}]" if low is not None else ""
  target = (f"{ratio['target']:.1f}x: {ratio['verdict']}" if "target" in ratio else "-")
  return (f"{ratio['geometric_mean']:.2f}x{interval} ({ratio['min']:.2f}-{ratio['max']:.2f}) | "
          f"{target}")


def plot(rows, path):
  """Grouped bars: each variant's median examples/s per side, min-max as error bars."""
  import matplotlib
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt
  sides = list(dict.fromkeys(s for r in rows for s in r["examples_per_second"]))
  fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(rows)), 4))
  width = 0.8 / len(sides)
  for k, side in enumerate(sides):
    xs, medians, low, high = [], [], [], []
    for i, r in enumerate(rows):
      rate = r["examples_per_second"].get(side)
      if rate:
        xs.append(i + (k - (len(sides) - 1) / 2) * width)
        medians.append(rate["median"])
        low.append(rate["median"] - rate["min"])
        high.append(rate["max"] - rate["median"])
    ax.bar(xs, medians, width, yerr=[low, high], capsize=2, label=side)
  ax.set_xticks(range(len(rows)), [r["variant"] for r in rows])
  ax.set_yscale("log")
  ax.set_ylabel("training examples / s (median, min-max)")
  ax.set_title(f"{rows[0]['device']}")
  ax.legend()
  fig.tight_layout()
  fig.savefig(path, dpi=120)
  plt.close(fig)


def check_plot_format(path):
  """Before the benchmark, not after it: matplotlib writes the format the suffix names."""
  from matplotlib.backend_bases import FigureCanvasBase
  formats = FigureCanvasBase.get_supported_filetypes()
  suffix = os.path.splitext(path)[1].lstrip(".").lower()
  if suffix not in formats:
    raise ConfigError(f"--plot={path}: '{suffix}' is not an image format matplotlib writes; "
                      f"end the path in one of {', '.join('.' + f for f in sorted(formats))}.")
