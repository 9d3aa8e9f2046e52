"""Every variant (one tutorial's model) and its hyper-parameters, in one table.

Each record says what the tutorial did; the trainer's flags override any of it. `schedule` is the
tutorial's training loop (schedules.py): how many updates it runs for a batch size and what its
step counter reads; a cadence like `eval_every` fires after the update whose tutorial counter is a
multiple of it -- so the log lines land where the tutorial printed them.
"""

import dataclasses
import enum
import sys
import typing
from typing import Literal

from tf_rnn_mnist import schedules
from tf_rnn_mnist.data.tutorial_splits import TF1_SPLIT, TORCH_SPLIT, TF1ReadDataSets, TorchDataLoader
from tf_rnn_mnist.errors import ConfigError


class Cell(str, enum.Enum):
  """The recurrent cell, named by the Keras layer that computes it exactly."""
  __str__ = str.__str__  # "lstm", as enum.StrEnum (Python 3.11+) would print it
  LSTM = "lstm"  # TF1 BasicLSTMCell / LSTMCell: Keras LSTM, forget_bias 1.0 in the bias
  GRU = "gru"  # TF1 GRUCell: Keras GRU(reset_after=False)
  TORCH_LSTM = "torch_lstm"  # nn.LSTM: Keras LSTM, its two biases summed into one

  @property
  def gates(self):
    return 3 if self is Cell.GRU else 4


@dataclasses.dataclass(frozen=True)
class LegacyScript:
  """The v1 reference of a variant: `python -m MODULE ARGS...` (legacy_tf1 or legacy_torch)."""
  module: str
  args: tuple = ()
  # The TF1 cell class the graph builds (its variable scope names the checkpoint's variables);
  # None for the PyTorch tutorial.
  tf1_cell: Literal["BasicLSTMCell", "LSTMCell", "GRUCell", None] = None

  @property
  def framework(self):
    return "tf1-graph" if self.tf1_cell else "pytorch"

  @property
  def code(self):
    """The packages whose code computes this script's results: its own, the data's and the
    plumbing's (its results JSON)."""
    return (self.module.split(".")[0], "tf_rnn_mnist.data", "tf_rnn_mnist.plumbing")

  def command(self, *args):
    return [sys.executable, "-m", self.module, *self.args, *args]

  def initial_weights(self, directory):
    """Where a matched run's v1 side saves its initial weights, and the flags that do it."""
    if self.tf1_cell:
      return (f"{directory}/initial.ckpt",
              [f"--checkpoint_dir={directory}", "--save_initial_checkpoint"])
    path = f"{directory}/initial.pt"
    return path, [f"--save_initial_state_dict={path}"]


@dataclasses.dataclass(frozen=True)
class Variant:
  name: str
  tutorials: str  # the tutorial files it reproduces (numbered as the project has always named them)
  summary: str
  cell: Cell
  units: int
  layers: int
  unroll: bool  # True for static_rnn graphs
  # "truncated_normal": the tutorial's tf.Variable W, b=0.1; "dense": fully_connected/layers.dense;
  # "torch_linear": nn.Linear
  output_layer: Literal["truncated_normal", "dense", "torch_linear"]
  # "double_softmax": softmax in the model and again inside the loss (basic_lstm's tutorial)
  loss: Literal["softmax_ce", "double_softmax", "sparse_ce"]
  # How the batch's losses are combined: "mean" (reduce_mean), or "sum" where the tutorial passed
  # the unreduced per-example vector to minimize(), whose gradient is then that of the sum.
  loss_reduction: Literal["mean", "sum"]
  dropout_keep: float  # DropoutWrapper(output_keep_prob); 1.0 = no dropout
  learning_rate: float
  adam: Literal["tf1", "torch"]  # tf1: epsilon added to sqrt(v); torch: two LSTM biases
  adam_epsilon: float  # TF1's and PyTorch's 1e-8, not Keras's 1e-7
  batch_size: int
  schedule: schedules.Epochs | schedules.FixedSteps | schedules.ExampleBudget
  data_split: TF1ReadDataSets | TorchDataLoader  # data/tutorial_splits.py
  train_log_every: int | None  # train-batch metric cadence (None: the tutorial printed none)
  # "after_update": sess.run on the batch after the update; "step_loss": torch's loss.item()
  train_log_metric: Literal["after_update", "step_loss", None]
  eval_every: int | None  # test-set evaluation cadence (or the schedule's: each epoch)
  tutorial_eval_examples: int | None  # the tutorial's test subset: first N test images (None: all)
  tutorial_log_style: Literal["epoch", "train_test", "iter_minibatch", "torch"]  # tutorial_log.py
  legacy: LegacyScript
  published_accuracy: str  # what the tutorial's text reports
  # Speed only (the math is the same): on CPUs, unroll the 28 steps instead of a while loop.
  # Measured faster for the small layers; 3 x LSTM(256) measured ~4% slower unrolled (its
  # SequenceLSTM unrolls its own loop; this then only sets Keras's path where it falls back).
  unroll_on_cpu: bool = True
  # Speed only (the same function): the LSTM's weight matmuls over the whole sequence at once,
  # forward and backward (layers.SequenceLSTM; a GPU runs cuDNN). Measured 1.3x faster for
  # 3 x LSTM(256), 0.56-0.84x for the small single LSTMs, where per-step ops dominate.
  sequence_matmuls: bool = False
  # Speed only (the same function): in training, the stacked SequenceLSTM layers and their
  # dropout computed step by step across the layers, as TF1's MultiRNNCell loop runs them, so
  # two layers' steps run at once (wavefront.py). Measured 1.14x on the three layers' forward
  # and backward on the AMD CPU, 1.07-1.09x on the Intel (docs/benchmarks.md).
  wavefront: bool = False

  def __post_init__(self):
    # A typo in the table fails at import, not deep inside a run.
    object.__setattr__(self, "cell", Cell(self.cell))
    for field in dataclasses.fields(self):
      if typing.get_origin(field.type) is Literal:
        allowed = typing.get_args(field.type)
        if getattr(self, field.name) not in allowed:
          raise ValueError(f"{self.name}: {field.name}={getattr(self, field.name)!r} is not "
                           f"one of {allowed}")


# Tutorial 003's four options share everything but the cell and how it is unrolled.
_TUTORIAL_003 = dict(
    units=128, layers=1, output_layer="dense", loss="softmax_ce", loss_reduction="mean",
    dropout_keep=1.0, learning_rate=1e-3, adam="tf1", adam_epsilon=1e-8, batch_size=128,
    schedule=schedules.ExampleBudget(100000, counter_start=1), data_split=TF1_SPLIT,
    train_log_every=10, train_log_metric="after_update", eval_every=None,
    tutorial_eval_examples=128, tutorial_log_style="iter_minibatch")



def _tutorial_003(**row):
  """A row of the single-layer tutorial: its shared values, any of them overridden by `row`
  (e.g. units=64)."""
  return Variant(**{**_TUTORIAL_003, **row})


VARIANTS = {v.name: v for v in [
    Variant(
        name="basic_lstm", tutorials="000, 002",
        summary="BasicLSTMCell(100) dynamic_rnn; final h -> W, b -> softmax; CE on the softmax",
        cell=Cell.LSTM, units=100, layers=1, unroll=False, output_layer="truncated_normal",
        loss="double_softmax", loss_reduction="mean", dropout_keep=1.0, learning_rate=1e-4,
        adam="tf1", adam_epsilon=1e-8, batch_size=50,
        schedule=schedules.Epochs(6, counter_start=1, evaluate_each_epoch=True),
        data_split=TF1_SPLIT, train_log_every=None, train_log_metric=None, eval_every=None,
        tutorial_eval_examples=None,
        tutorial_log_style="epoch",
        legacy=LegacyScript("legacy_tf1.basic_lstm", tf1_cell="BasicLSTMCell"),
        published_accuracy="not printed in the tutorial text"),
    Variant(
        name="multilayer", tutorials="001",
        summary="3 x [BasicLSTMCell(256) + DropoutWrapper(output_keep_prob=0.5)]; last step -> "
                "W, b logits",
        cell=Cell.LSTM, units=256, layers=3, unroll=False, output_layer="truncated_normal",
        loss="softmax_ce", loss_reduction="sum", dropout_keep=0.5, learning_rate=1e-3,
        adam="tf1", adam_epsilon=1e-8, batch_size=100, schedule=schedules.FixedSteps(2001),
        data_split=TF1_SPLIT, train_log_every=100, train_log_metric="after_update",
        eval_every=500,
        tutorial_eval_examples=None, tutorial_log_style="train_test",
        legacy=LegacyScript("legacy_tf1.multilayer_lstm", tf1_cell="BasicLSTMCell"),
        published_accuracy="Test 500 0.9595; ~0.98 after 2000 steps", unroll_on_cpu=False,
        sequence_matmuls=True, wavefront=True),
    _tutorial_003(
        name="static_lstm", tutorials="003 #1", cell=Cell.LSTM, unroll=True,
        legacy=LegacyScript("legacy_tf1.static_rnn", ("--cell=basic_lstm",), "BasicLSTMCell"),
        summary="BasicLSTMCell(128) static_rnn; outputs[-1] -> fully_connected(10)",
        published_accuracy="0.9453125 on the first 128 test images"),
    _tutorial_003(
        name="static_lstmcell", tutorials="003 #2", cell=Cell.LSTM, unroll=True,
        legacy=LegacyScript("legacy_tf1.static_rnn", ("--cell=lstm",), "LSTMCell"),
        summary="LSTMCell(128) static_rnn (same math as BasicLSTMCell); outputs[-1] -> "
                "fully_connected(10)",
        published_accuracy="0.9609375 on the first 128 test images"),
    _tutorial_003(
        name="static_gru", tutorials="003 #3", cell=Cell.GRU, unroll=True,
        legacy=LegacyScript("legacy_tf1.static_rnn", ("--cell=gru",), "GRUCell"),
        summary="GRUCell(128) static_rnn = Keras GRU(reset_after=False, unroll=True); "
                "outputs[-1] -> fully_connected(10)",
        published_accuracy="0.9921875 on the first 128 test images"),
    _tutorial_003(
        name="dynamic_gru", tutorials="003 #4", cell=Cell.GRU, unroll=False,
        legacy=LegacyScript("legacy_tf1.static_rnn", ("--cell=dynamic_gru",), "GRUCell"),
        summary="GRUCell(128) dynamic_rnn = Keras GRU(reset_after=False); last step -> "
                "fully_connected(10)",
        published_accuracy="0.9921875 on the first 128 test images"),
    Variant(
        name="torch_lstm", tutorials="004",
        summary="nn.LSTM(28 -> 64), last step -> nn.Linear(64, 10); CrossEntropyLoss on logits",
        cell=Cell.TORCH_LSTM, units=64, layers=1, unroll=False, output_layer="torch_linear",
        loss="sparse_ce", loss_reduction="mean", dropout_keep=1.0, learning_rate=0.01,
        adam="torch", adam_epsilon=1e-8, batch_size=64,
        schedule=schedules.Epochs(1, counter_restarts_each_epoch=True),
        data_split=TORCH_SPLIT, train_log_every=50, train_log_metric="step_loss",
        eval_every=50,
        tutorial_eval_examples=2000, tutorial_log_style="torch",
        legacy=LegacyScript("legacy_torch.mnist_lstm"),
        published_accuracy="not printed in the tutorial text"),
]}

NAMES = tuple(VARIANTS)


def get_variant(name):
  try:
    return VARIANTS[name]
  except KeyError:
    raise ConfigError(f"Unknown variant {name!r}; choose one of {', '.join(NAMES)}.") from None


def parse_names(text, flag="--variants"):
  """`all`, or a comma-separated list of variant names, checked."""
  if text == "all":
    return list(NAMES)
  names = [n.strip() for n in text.split(",") if n.strip()]
  if not names:
    raise ConfigError(f"{flag} is empty; pass all or a comma-separated list of "
                      f"{', '.join(NAMES)}.")
  for name in names:
    get_variant(name)  # raises with the list of choices
    if names.count(name) > 1:
      raise ConfigError(f"{flag}={text} names {name} twice; each variant is run (and reported) "
                        "once.")
  return names
