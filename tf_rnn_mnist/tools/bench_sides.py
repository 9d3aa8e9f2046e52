"""The benchmark's sides that are not legacy scripts, each in its own process behind a
WindowGate (bench_gate.py):

    python -m tf_rnn_mnist.tools.bench_sides --side=keras|fit|fit_builtin|jax|torch \
        --variant=V --window=N --updates=U [data flags]

- keras: this project's trainer (`Trainer.train_loop`, one compiled call per window).
- fit: the same model under Keras's own loop: this project's layers, `compile(Adam(lr),
  sparse CE)` and `model.fit` on the variant's training split (one batch per update, fit's own
  tf.data). Against it the port differs only by its loop and optimizer.
- fit_builtin: what a Keras user writes: the same architecture from Keras's built-in layers
  (keras.layers.LSTM / GRU, Dropout, Dense: models.build_model(portable=True)) under the same
  `compile` and `model.fit`.
- jax: fit_builtin's model, `compile` and `model.fit` on Keras's JAX backend (jit-compiled, a
  process that never imports TensorFlow): what a Keras 3 user may pick instead of TensorFlow.
- torch: what a PyTorch user writes: `nn.LSTM`/`nn.GRU(28, units, num_layers, batch_first)`
  with dropout between layers where the variant drops, `nn.Linear`, `Adam(lr)`,
  `CrossEntropyLoss`, shuffled batches. A speed reference, not a faithful port.
"""

import functools
import os
import sys
import time

from absl import flags
import numpy as np

from tf_rnn_mnist.plumbing import cli
from tf_rnn_mnist import variants
from tf_rnn_mnist.plumbing.bench_gate import WindowGate, timed
from tf_rnn_mnist.data.flags import DataOptions
from tf_rnn_mnist.variants import Cell

SIDES = ("keras", "fit", "fit_builtin", "jax", "torch")
# The Keras backend each Keras side runs on, set before Keras is first imported (a
# KERAS_BACKEND in the caller's environment must not move a side to another backend).
KERAS_BACKENDS = {"keras": "tensorflow", "fit": "tensorflow", "fit_builtin": "tensorflow",
                  "jax": "jax"}


def keras_trainer(variant, mnist, updates, mixed_precision=False):
  """The trainer as `train` builds it, without evaluation or progress output."""
  from tf_rnn_mnist.training import distribute
  from tf_rnn_mnist.training.plan import TrainConfig, plan_run
  from tf_rnn_mnist.training.trainer import Trainer
  config = TrainConfig(variant=variant.name, train_steps=updates, eval_every=0, progress=False,
                       mixed_precision=mixed_precision)
  data = variant.data_split.datasets(mnist)
  plan = plan_run(config, len(data.train_images), variant)
  return Trainer(plan, distribute.make_strategy("auto"), data)


def _keras(variant, mnist, gate, updates, mixed_precision=False):
  import tensorflow as tf
  trainer = keras_trainer(variant, mnist, updates, mixed_precision)
  window = tf.constant(gate.window)
  gate.window = 1  # one compiled call runs the whole window
  while True:
    timed(gate, trainer.train_loop, window)


def fit_model(variant, builtin=False):
  """The fit sides' model, compiled: this project's (fit) or Keras's built-in layers only
  (fit_builtin)."""
  import keras
  from tf_rnn_mnist.model.models import build_model
  model = build_model(variant, portable=builtin)
  model.compile(optimizer=keras.optimizers.Adam(variant.learning_rate),
                loss=keras.losses.SparseCategoricalCrossentropy(
                    from_logits=variant.loss != "double_softmax"))
  return model


def _fit(variant, mnist, gate, updates, builtin=False):
  import keras
  data = variant.data_split.datasets(mnist)
  model = fit_model(variant, builtin)

  class Gated(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
      gate.before_step()
      self.tic = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
      # Keras turned `logs` into Python floats before this call (this callback is not
      # async-safe), so on JAX the update has finished, not only been dispatched.
      gate.step(time.perf_counter() - self.tic)

  # Whole batches only: a last, shorter batch would be traced or compiled anew (on JAX, an XLA
  # compilation) inside a timed window, and counted as a whole batch's examples.
  steps_per_epoch = len(data.train_images) // variant.batch_size
  whole = steps_per_epoch * variant.batch_size
  model.fit(data.train_images[:whole], data.train_labels[:whole], batch_size=variant.batch_size,
            epochs=-(-updates // steps_per_epoch), callbacks=[Gated()], verbose=0)


def _torch(variant, mnist, gate, updates):
  import torch
  from torch import nn
  data = variant.data_split.datasets(mnist)
  torch.manual_seed(0)

  class Net(nn.Module):
    def __init__(self):
      super().__init__()
      rnn = nn.GRU if variant.cell is Cell.GRU else nn.LSTM
      dropout = 1.0 - variant.dropout_keep if variant.layers > 1 else 0.0
      self.rnn = rnn(28, variant.units, num_layers=variant.layers, batch_first=True,
                     dropout=dropout)
      self.out = nn.Linear(variant.units, 10)

    def forward(self, x):
      return self.out(self.rnn(x)[0][:, -1])

  net = Net()
  optimizer = torch.optim.Adam(net.parameters(), lr=variant.learning_rate)
  loss_fn = nn.CrossEntropyLoss()
  images, labels = torch.from_numpy(data.train_images), torch.from_numpy(
      data.train_labels.astype(np.int64))

  def update(x, y):
    loss = loss_fn(net(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()

  rng = np.random.default_rng(0)
  while True:
    order = torch.from_numpy(rng.permutation(len(images)))
    for batch in torch.split(order, variant.batch_size):
      timed(gate, update, images[batch], labels[batch])


def define_flags():
  from tf_rnn_mnist.data import flags as data_flags
  flags.DEFINE_enum("side", None, list(SIDES), "Which side to run.")
  flags.DEFINE_enum("variant", None, list(variants.NAMES), "The variant's sizes and settings.")
  flags.DEFINE_integer("window", None, "Updates per window.", lower_bound=1)
  flags.DEFINE_integer("updates", None, "Updates the benchmark will ask for at most.",
                       lower_bound=1)
  data_flags.define_data_flags()
  flags.DEFINE_bool("mixed_precision", False, "keras: the trainer's --mixed_precision.")
  flags.mark_flags_as_required(["side", "variant", "window", "updates"])


def _choose_keras_backend(side):
  if side not in KERAS_BACKENDS:
    return
  if "keras" in sys.modules:  # too late: Keras reads KERAS_BACKEND once, at import
    raise RuntimeError("bench_sides: Keras was imported before its backend was chosen.")
  os.environ["KERAS_BACKEND"] = KERAS_BACKENDS[side]


def main(argv):
  f = flags.FLAGS
  _choose_keras_backend(f.side)
  gate = WindowGate(f.window)
  mnist = DataOptions.from_flags(f).load()
  variant = variants.get_variant(f.variant)
  if f.side == "keras":
    _keras(variant, mnist, gate, f.updates, f.mixed_precision)
  else:
    builtin = functools.partial(_fit, builtin=True)
    sides = {"fit": _fit, "fit_builtin": builtin, "jax": builtin, "torch": _torch}
    sides[f.side](variant, mnist, gate, f.updates)


def run_main():
  define_flags()
  cli.run_tool(main)


if __name__ == "__main__":
  run_main()
