"""How each tutorial split, scaled and ordered its training data, as the objects the variant table
holds: the trainer, compare and convert ask the split, never branch on which one it is.

- TF1 (`read_data_sets(one_hot=True)` + `next_batch`): the last 55000 training images (the
  first 5000 are validation) x float32(1/255); `next_batch` epochs drop no example but carry
  the leftovers into the next batch, so an "epoch" of the tutorials' loops is `55000 // batch`.
- PyTorch (`DataLoader(shuffle=True)`): all 60000 / 255 (a float32 division: the last bit
  differs from TF1's multiply); reshuffled epochs that end with their partial batch.
"""

import dataclasses

import numpy as np

from tf_rnn_mnist.data.errors import MnistDataError
from tf_rnn_mnist.data.splits import TF1_VALIDATION_SIZE, TF1BatchOrder, tf1_scale, torch_scale


@dataclasses.dataclass
class Datasets:
  """Training and test arrays: float32 pixels (N, 28, 28) already scaled, integer labels."""
  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray


def training_digest(data):
  """SHA-256 (16 hex digits) of the training images and labels as a run reads them (`data`:
  Datasets, or anything with its train_ arrays): a resume on other data (own IDX files,
  --noverify_digests) is told apart by it."""
  import hashlib
  digest = hashlib.sha256()
  for array in (np.asarray(data.train_images), np.asarray(data.train_labels)):
    digest.update(str((array.dtype, array.shape)).encode())
    digest.update(np.ascontiguousarray(array).tobytes())
  return digest.hexdigest()[:16]


@dataclasses.dataclass(frozen=True)
class _TutorialSplit:
  name: str
  first_train_example: int  # the training split is the official training set from here on
  keep_partial_batch: bool  # an epoch ends with its partial batch (DataLoader) or not (TF1)
  order_in_memory: bool  # the batch order is an array of every batch (TF1), not a stream

  def train_size(self, official_train_examples):
    return official_train_examples - self.first_train_example

  def steps_per_epoch(self, batch_size, num_train):
    if self.keep_partial_batch:
      return -(-num_train // batch_size)
    return num_train // batch_size

  def datasets(self, mnist):
    """The tutorial's training split and test set from an `Mnist`, scaled as the tutorial scaled."""
    def sequences(images):
      return self.scale(images).reshape(len(images), 28, 28)
    if len(mnist.train_images) <= self.first_train_example:
      raise MnistDataError(
          f"The data has {len(mnist.train_images)} training images; the {self.name} split "
          f"keeps the first {self.first_train_example} for validation, as the tutorial's "
          f"read_data_sets did, and trains on the rest: it needs more than "
          f"{self.first_train_example}.")
    train = slice(self.first_train_example, None)
    return Datasets(sequences(mnist.train_images[train]),
                    mnist.train_labels[train].astype(np.int64),
                    sequences(mnist.test_images), mnist.test_labels.astype(np.int64))

  def trained_examples(self, steps, batch_size, num_train):
    """Examples consumed by `steps` updates."""
    if not self.keep_partial_batch:
      return steps * batch_size
    epochs, rest = divmod(steps, self.steps_per_epoch(batch_size, num_train))
    return epochs * num_train + rest * batch_size


@dataclasses.dataclass(frozen=True)
class TF1ReadDataSets(_TutorialSplit):
  name: str = "tf1"
  first_train_example: int = TF1_VALIDATION_SIZE
  keep_partial_batch: bool = False
  order_in_memory: bool = True

  @staticmethod
  def scale(images):
    return tf1_scale(images)

  def order(self, num_train, batch_size, steps, seed):
    """`next_batch`'s order after tf.set_random_seed(seed), as (steps, batch) indices."""
    return TF1BatchOrder(num_train, seed).take(batch_size, steps)

  def index_batches(self, num_train, batch_size, steps, seed):
    from tf_rnn_mnist.data import pipelines
    return pipelines.ordered_index_batches(self.order(num_train, batch_size, steps, seed),
                                           num_train)

  matched_order = order


@dataclasses.dataclass(frozen=True)
class TorchDataLoader(_TutorialSplit):
  name: str = "torch"
  first_train_example: int = 0
  keep_partial_batch: bool = True
  order_in_memory: bool = False

  @staticmethod
  def scale(images):
    return torch_scale(images)

  def index_batches(self, num_train, batch_size, steps, seed):
    """Reshuffled epochs with their partial last batch, from tf.data's seeded shuffle."""
    from tf_rnn_mnist.data import pipelines
    return pipelines.shuffled_index_batches(num_train, batch_size, seed=seed)

  def matched_order(self, num_train, batch_size, steps, seed):
    """For matched runs: reshuffled epochs of full batches (a (steps, batch) array holds no
    partial one)."""
    rng, batches = np.random.RandomState(seed), []
    per_epoch = num_train // batch_size
    while len(batches) < steps:
      batches.extend(rng.permutation(num_train)[:per_epoch * batch_size]
                     .reshape(per_epoch, batch_size))
    return np.stack(batches[:steps])


TF1_SPLIT = TF1ReadDataSets()
TORCH_SPLIT = TorchDataLoader()
