"""The splits, scalings and batch orders the tutorials used, reproduced exactly.

TF1 (`tensorflow.examples.tutorials.mnist.input_data.read_data_sets(dir, one_hot=True)`):
validation = the first 5000 training images, train = the other 55000; images flattened to
float32 (N, 784) and multiplied by float32(1/255); labels one-hot float64; `next_batch` shuffles.
PyTorch (torchvision `ToTensor`, and the tutorial's `test_data.test_data.float()/255.`): all 60000
training images, float32 pixels *divided* by 255 -- which differs from TF1's multiply by
float32(1/255) in the last bit for some pixel values, so each split keeps its own scaling.
"""

import dataclasses

import numpy as np

from tf_rnn_mnist.data.errors import MnistDataError

TF1_VALIDATION_SIZE = 5000


def tf1_scale(images_uint8):
  """TF1's `images.astype(float32); numpy.multiply(images, 1.0 / 255.0)` on flat (N, 784)."""
  flat = images_uint8.reshape(len(images_uint8), -1).astype(np.float32)
  return flat * np.float32(1.0 / 255.0)


def torch_scale(images_uint8):
  """torchvision ToTensor / the tutorial's `float() / 255.`: float32 division, shape (N, 28, 28)."""
  return images_uint8.astype(np.float32) / np.float32(255.0)


def one_hot(labels, num_classes=10):
  """TF1's `dense_to_one_hot`: float64, as numpy.zeros makes it."""
  encoded = np.zeros((len(labels), num_classes))
  encoded[np.arange(len(labels)), labels] = 1.0
  return encoded


class TF1BatchOrder:
  """The example order of TF1 `DataSet.next_batch(batch_size)` (with its default shuffle=True).

  TF1 shuffles on the first call and, when an epoch runs out, takes the leftover examples,
  reshuffles the (already shuffled) arrays and fills the batch from the new order. TF1 drew from
  the global numpy RNG, which `DataSet.__init__` reseeds to the graph seed S set by
  `tf.set_random_seed(S)`; the seeds draw nothing else from it, so a private RandomState(S)
  gives the identical sequence without touching global state. seed=None draws fresh entropy, as
  TF1 did without a graph seed.
  """

  def __init__(self, num_examples, seed=None):
    if num_examples < 1:
      raise MnistDataError(f"Cannot batch an empty split (num_examples={num_examples}).")
    self.num_examples = num_examples
    self.epochs_completed = 0
    self._rng = np.random.RandomState(seed)
    self._order = np.arange(num_examples)
    self._index_in_epoch = 0

  def next_indices(self, batch_size):
    """Returns the indices (into the unshuffled split) of the next batch."""
    # A batch larger than the split is allowed, as in TF1: the leftovers plus the start of the
    # next epoch fill it (and past twice the split, TF1's slicing returns a short batch).
    if batch_size < 1:
      raise MnistDataError(f"batch_size must be a positive integer, got {batch_size}.")
    start = self._index_in_epoch
    if self.epochs_completed == 0 and start == 0:
      self._order = self._order[self._rng.permutation(self.num_examples)]
    if start + batch_size <= self.num_examples:
      self._index_in_epoch += batch_size
      return self._order[start:self._index_in_epoch]
    self.epochs_completed += 1
    rest = self._order[start:]
    self._order = self._order[self._rng.permutation(self.num_examples)]
    self._index_in_epoch = batch_size - len(rest)
    return np.concatenate([rest, self._order[:self._index_in_epoch]])

  def take(self, batch_size, num_batches):
    """Returns the next `num_batches` batches of indices as an int64 array (num_batches, batch)."""
    return np.stack([self.next_indices(batch_size) for _ in range(num_batches)])


def check_batch_order(order, num_examples, source="A batch order", steps=None, batch_size=None):
  """The one check of a recorded batch order, (steps, batch) integer indices into a split of
  `num_examples`; with `steps` and `batch_size`, also that it holds at least `steps` batches of
  `batch_size`. Returns it as int64; raises MnistDataError saying what is wrong."""
  order = np.asarray(order)
  if order.ndim != 2 or not np.issubdtype(order.dtype, np.integer) or order.shape[1] < 1:
    raise MnistDataError(f"{source} must be an integer array of shape (steps, batch), got "
                         f"{order.dtype} {list(order.shape)}.")
  if steps is not None and (order.shape[0] < steps or order.shape[1] != batch_size):
    raise MnistDataError(
        f"{source} holds an array of shape {list(order.shape)}; this run needs at least "
        f"{steps} batches of {batch_size}: [steps >= {steps}, {batch_size}].")
  if num_examples is not None and order.size and (order.min() < 0
                                                  or order.max() >= num_examples):
    raise MnistDataError(f"{source} must index the {num_examples} training examples "
                         f"(0..{num_examples - 1}); it holds {order.min()}..{order.max()}.")
  return order.astype(np.int64)


def read_batch_order(path, num_examples=None, steps=None, batch_size=None, flag="--batch_indices"):
  """A recorded batch order from a .npy file, checked by `check_batch_order` (num_examples=None
  defers the range check to whoever knows the split)."""
  try:
    with open(path, "rb") as f:
      is_npy = f.read(6) == b"\x93NUMPY"
    # (numpy takes any other file for a pickle and says so, which misleads)
    if not is_npy:
      raise ValueError("not a .npy file: it does not start with numpy's magic bytes")
    order = np.load(path, allow_pickle=False)
  except (OSError, ValueError) as e:
    raise MnistDataError(f"{flag}={path} is not a readable .npy file ({e}).") from None
  return check_batch_order(order, num_examples, f"{flag}={path}", steps, batch_size)


class ReplayOrder:
  """A recorded batch order (steps, batch) served through the same `next_indices` interface:
  how a run is fed exactly the batches another run consumed."""

  def __init__(self, batch_indices, num_examples):
    self.batch_indices = check_batch_order(batch_indices, num_examples)
    self.num_examples, self.epochs_completed = num_examples, 0
    self._next = 0

  def next_indices(self, batch_size):
    if self._next == len(self.batch_indices):
      raise MnistDataError(f"The batch order holds {len(self.batch_indices)} batches; a "
                           f"{self._next + 1}th was asked for.")
    if batch_size != self.batch_indices.shape[1]:
      raise MnistDataError(f"The batch order holds batches of {self.batch_indices.shape[1]}; "
                           f"batch_size {batch_size} was asked for.")
    self._next += 1
    return self.batch_indices[self._next - 1]


@dataclasses.dataclass
class TF1DataSet:
  """One split as TF1's `DataSet`: `images`, `labels`, `num_examples`, `next_batch`."""
  images: np.ndarray  # float32 (N, 784)
  labels: np.ndarray  # float64 one-hot (N, 10)
  order: TF1BatchOrder | ReplayOrder

  @property
  def num_examples(self):
    return len(self.images)

  @property
  def epochs_completed(self):
    return self.order.epochs_completed

  def next_batch(self, batch_size):
    batch = self.order.next_indices(batch_size)
    return self.images[batch], self.labels[batch]


@dataclasses.dataclass
class TF1Datasets:
  train: TF1DataSet
  validation: TF1DataSet
  test: TF1DataSet


def tf1_split(mnist, seed=None, validation_size=TF1_VALIDATION_SIZE, one_hot_labels=True):
  """TF1's `read_data_sets(dir, one_hot=True)` on an `Mnist`, `seed` being the graph seed.

  `seed` may also be a (train, validation, test) tuple: TF1 asked `get_seed` once per DataSet.
  """
  if not 0 <= validation_size <= len(mnist.train_images):
    raise MnistDataError(
        f"validation_size must be in 0..{len(mnist.train_images)}, got {validation_size}.")
  seeds = seed if isinstance(seed, tuple) else (seed, seed, seed)

  def dataset(images, labels, split_seed):
    return TF1DataSet(tf1_scale(images), one_hot(labels) if one_hot_labels else labels,
                      TF1BatchOrder(len(images), split_seed))

  return TF1Datasets(
      train=dataset(mnist.train_images[validation_size:], mnist.train_labels[validation_size:],
                    seeds[0]),
      validation=dataset(mnist.train_images[:validation_size],
                         mnist.train_labels[:validation_size], seeds[1]),
      test=dataset(mnist.test_images, mnist.test_labels, seeds[2]),
  )


@dataclasses.dataclass
class TorchSplit:
  """The PyTorch tutorial's data: all 60000 training images, float32 /255, integer labels."""
  train_images: np.ndarray  # float32 (60000, 28, 28)
  train_labels: np.ndarray  # int64 (60000,)
  test_images: np.ndarray  # float32 (10000, 28, 28)
  test_labels: np.ndarray  # int64 (10000,)


def torch_split(mnist):
  return TorchSplit(torch_scale(mnist.train_images), mnist.train_labels.astype(np.int64),
                    torch_scale(mnist.test_images), mnist.test_labels.astype(np.int64))
