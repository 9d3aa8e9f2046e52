"""Train a seed variant: `python -m tf_rnn_mnist.train --variant=multilayer`.

One custom training loop for every tf.distribute strategy (Keras 3 `fit` breaks under
MultiWorkerMirroredStrategy): `strategy.run` inside a `tf.function` that runs up to
--steps_per_loop updates per call, so Python is visited only where the seed logs something.
`--batch_size` is the global batch: the strategy splits each batch among its replicas, and the
loss is reduced over the whole global batch (averaged, or summed where the seed summed), so
every strategy computes the same update.
"""

import dataclasses
import os
import sys
import tempfile
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np

from tf_rnn_mnist import distribute
from tf_rnn_mnist import results as results_io
from tf_rnn_mnist import schedules
from tf_rnn_mnist import variants
from tf_rnn_mnist.data import MnistDataError, TF1BatchOrder, tf1_scale, torch_scale
from tf_rnn_mnist.data import flags as data_flags
from tf_rnn_mnist.data.splits import TF1_VALIDATION_SIZE
from tf_rnn_mnist.errors import ConfigError, TrainingError

EVAL_BATCH_SIZE = 1000


@dataclasses.dataclass
class TrainConfig:
  """Everything a run needs. None means "the variant's own value"."""
  variant: str = "multilayer"
  train_steps: int | None = None
  epochs: int | None = None
  batch_size: int | None = None
  learning_rate: float | None = None
  eval_every: int | None = None  # 0 disables evaluation during training
  dropout_keep: float | None = None
  seed: int = 0
  data_source: str = "auto"
  data_dir: str | None = None
  tfds_data_dir: str | None = None
  verify_digests: bool = True
  model_dir: str | None = None
  tensorboard_dir: str | None = None  # None: MODEL_DIR/tensorboard
  results_json: str | None = None
  export: str | None = None
  strategy: str = "auto"
  tpu: str = ""
  steps_per_loop: int = 100
  checkpoint_every: int | None = None  # updates between checkpoints in model_dir; None: at the end
  mixed_precision: bool = False  # float16 compute on GPUs
  progress: bool | None = None  # None: a progress bar when stderr is a terminal
  init_from: str | None = None  # TF1 checkpoint, PyTorch state_dict or .keras: matched runs
  batch_indices: str | None = None  # .npy (steps, batch) training-split indices: matched runs


@dataclasses.dataclass
class Datasets:
  """Training and test arrays: float32 pixels (N, 28, 28) already scaled, integer labels."""
  train_images: np.ndarray
  train_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray


@dataclasses.dataclass(frozen=True)
class Plan:
  """The run's resolved numbers: the variant's defaults with the config's overrides."""
  variant: variants.Variant
  train_steps: int
  batch_size: int
  learning_rate: float
  eval_every: int | None
  dropout_keep: float
  counter: schedules.Counter  # the seed's step counter and epoch at each update


# ---------------------------------------------------------------------------------------------
# Configuration


def _positive(name, value, kind=int):
  if value is not None and (not isinstance(value, (int, float)) or value <= 0):
    raise ConfigError(f"--{name} must be a positive {kind.__name__}, got {value}.")


def steps_per_epoch(variant, batch_size, num_train):
  """The seed's batches per epoch: TF1's `num_examples // batch_size`; torch's DataLoader keeps
  the last partial batch."""
  return schedules.steps_per_epoch(batch_size, num_train, variant.schedule.keep_partial_batch)


def plan_run(config, num_train):
  """Applies the config's overrides to the variant's defaults and validates the result."""
  variant = variants.get_variant(config.variant)
  for name in ("train_steps", "epochs", "batch_size", "steps_per_loop", "checkpoint_every"):
    _positive(name, getattr(config, name))
  _positive("learning_rate", config.learning_rate, float)
  if config.eval_every is not None and config.eval_every < 0:
    raise ConfigError(f"--eval_every must be >= 0 (0 disables), got {config.eval_every}.")
  if config.dropout_keep is not None and not 0 < config.dropout_keep <= 1:
    raise ConfigError(f"--dropout_keep must be in (0, 1], got {config.dropout_keep}.")
  if config.train_steps is not None and config.epochs is not None:
    raise ConfigError("Pass --train_steps or --epochs, not both.")
  batch_size = config.batch_size or variant.batch_size
  if batch_size > num_train:
    raise ConfigError(f"--batch_size={batch_size} exceeds the {num_train} training examples.")
  # The seed's loop decides its length and cadences from the batch size, as its code did.
  per_epoch = steps_per_epoch(variant, batch_size, num_train)
  if config.epochs is not None:
    train_steps = config.epochs * per_epoch
  else:
    train_steps = config.train_steps or variant.schedule.train_steps(batch_size, num_train)
  seed_eval_every = per_epoch if variant.schedule.evaluate_each_epoch else variant.eval_every
  eval_every = seed_eval_every if config.eval_every is None else (config.eval_every or None)
  return Plan(variant=variant, train_steps=train_steps, batch_size=batch_size,
              learning_rate=config.learning_rate or variant.learning_rate,
              eval_every=eval_every,
              dropout_keep=variant.dropout_keep if config.dropout_keep is None
              else config.dropout_keep,
              counter=schedules.Counter(variant.schedule, per_epoch))


def _check_writable_dir(flag, directory):
  try:
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryFile(dir=directory):
      pass
  except OSError as e:
    raise ConfigError(f"--{flag}={directory} is not a writable directory: {e}.") from None


def check_outputs(config):
  """Fails before training, not after it, if an output cannot be written."""
  if config.checkpoint_every and not config.model_dir:
    raise ConfigError("--checkpoint_every needs --model_dir (where the checkpoints go).")
  if config.model_dir:
    _check_writable_dir("model_dir", config.model_dir)
  if config.results_json:
    _check_writable_dir("results_json", os.path.dirname(os.path.abspath(config.results_json)))
  if config.export:
    if os.path.isfile(config.export) and not config.export.endswith(".keras"):
      raise ConfigError(f"--export={config.export} is an existing file; pass a path ending in "
                        ".keras (a Keras model file) or a directory (a SavedModel).")
    _check_writable_dir("export", os.path.dirname(os.path.abspath(config.export)))


def datasets_for(variant, mnist):
  """The seed's training split and scaling: TF1's 55000 x float32(1/255), or torch's 60000 / 255."""
  if variant.data_split == "torch":
    scale, train_images, train_labels = (torch_scale, mnist.train_images, mnist.train_labels)
  else:
    scale = tf1_scale
    train_images = mnist.train_images[TF1_VALIDATION_SIZE:]
    train_labels = mnist.train_labels[TF1_VALIDATION_SIZE:]
  def sequences(images):
    return scale(images).reshape(len(images), 28, 28)
  return Datasets(sequences(train_images), train_labels.astype(np.int64),
                  sequences(mnist.test_images), mnist.test_labels.astype(np.int64))


# ---------------------------------------------------------------------------------------------
# The seed's log lines


def _tf1_str(value):
  """How the TF1 seeds printed a float32 fetched from sess.run: str(numpy.float32)."""
  return str(np.float32(value))


def _epoch_line(plan, update, m):
  if "test_accuracy" in m:
    return (f"Iter {plan.counter.epoch(update)}, Testing Accuracy= "
            f"{_tf1_str(m['test_accuracy'])}")


def _train_test_lines(plan, update, m):
  counter = plan.counter.step(update)
  lines = []
  if "train_accuracy" in m:
    lines.append(f"Train {counter} {_tf1_str(m['train_accuracy'])}")
  if "test_accuracy" in m:
    lines.append(f"Test {counter} {_tf1_str(m['test_accuracy'])}")
  return "\n".join(lines)


def _iter_minibatch_line(plan, update, m):
  counter = plan.counter.step(update)
  if "train_accuracy" in m:
    return (f"Iter {counter * plan.batch_size}, Minibatch Loss= {m['train_loss']:.6f}, "
            f"Training Accuracy= {m['train_accuracy']:.5f}")


def _torch_line(plan, update, m):
  if "train_loss" in m:
    line = f"Epoch:  {plan.counter.epoch(update)} | train loss: {m['train_loss']:.4f}"
    return line + (f" | test accuracy: {m['test_accuracy']:.2f}" if "test_accuracy" in m else "")


# What each seed printed at its step counter, given what was measured there.
SEED_LOG_LINES = {"epoch": _epoch_line, "train_test": _train_test_lines,
                  "iter_minibatch": _iter_minibatch_line, "torch": _torch_line}


def seed_log_line(plan, update, metrics):
  """The seed's log line(s) after `update` (counted from 1), or None/"" where it printed
  nothing."""
  return SEED_LOG_LINES[plan.variant.seed_log_style](plan, update, metrics)


def seed_final_lines(plan, seed_accuracy):
  if plan.variant.seed_log_style == "iter_minibatch":
    return [" Finished!", f"Testing Accuracy: {_tf1_str(seed_accuracy)}"]
  return []


# ---------------------------------------------------------------------------------------------
# Training


def optimizer_groups(plan, model, loss_scale=False):
  """[(Adam, variables)]: TF1's Adam for the TF1 seeds; PyTorch's for torch_lstm, whose LSTM
  bias also needs its own. loss_scale: each wrapped in Keras's LossScaleOptimizer (float16).

  PyTorch's LSTM has two bias vectors, b_ih and b_hh, that always get the same gradient, so
  Adam moves each by the same step and their sum, the one bias Keras keeps, by twice that step.
  Adam with twice the learning rate on the summed bias is exactly that update.
  """
  import keras
  from tf_rnn_mnist.optimizers import TorchAdam
  adam_class = TorchAdam if plan.variant.adam == "torch" else keras.optimizers.Adam

  def adam(learning_rate, variables):
    optimizer = adam_class(learning_rate, epsilon=plan.variant.adam_epsilon)
    if loss_scale:
      optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    optimizer.build(variables)
    return optimizer, variables

  variables = model.trainable_variables
  if plan.variant.adam != "torch":
    return [adam(plan.learning_rate, variables)]
  summed_biases = [model.get_layer(f"rnn_{i}").cell.bias for i in range(plan.variant.layers)]
  others = [v for v in variables if all(v is not b for b in summed_biases)]
  return [adam(plan.learning_rate, others), adam(2 * plan.learning_rate, summed_biases)]


def _replica_slice(indices):
  """This replica's consecutive share of a global batch of indices.

  Every replica (on every worker) reads the same global batch of indices and gathers its own
  slice from the data resident on its device: the same global batch on any number of replicas,
  uneven last batches included, and the same iterator state on every worker.
  """
  import tensorflow as tf
  context = tf.distribute.get_replica_context()
  n = tf.shape(indices)[0]
  replica, replicas = context.replica_id_in_sync_group, context.num_replicas_in_sync
  return indices[replica * n // replicas:(replica + 1) * n // replicas]


def resident(strategy, array):
  """`array` copied once to each local replica's device (GPU memory on GPUs), per replica."""
  import tensorflow as tf
  devices = strategy.extended.worker_devices

  def on_device(context):
    with tf.device(devices[context.replica_id_in_sync_group % len(devices)]):
      return tf.identity(array)
  return strategy.experimental_distribute_values_from_function(on_device)


class Trainer:
  """The model, optimizers, device-resident data and compiled step functions of one run.

  index_batches: a tf.data.Dataset of global batches of training-split indices; its iterator
  (`self.iterator`, host-side and the same on every worker) is what checkpoints save.
  """

  def __init__(self, plan, strategy, data, index_batches, mixed_precision=False):
    import tensorflow as tf
    from tf_rnn_mnist import losses
    from tf_rnn_mnist.models import build_model, cudnn_eligible
    self.plan, self.strategy, self.tf = plan, strategy, tf
    # On GPUs, cuDNN must run the eligible variants: Keras raises at build time if it cannot.
    # On CPUs, unrolling the 28 steps beats a while loop for the small variants (measured:
    # torch_lstm 11.6k -> 15.4k examples/s, basic_lstm 6.4k -> 7.1k; docs/benchmarks.md).
    on_gpu = any("GPU" in d.upper() for d in strategy.extended.worker_devices)
    self.use_cudnn = True if on_gpu and cudnn_eligible(plan.variant) else "auto"
    with strategy.scope():
      self.model = build_model(plan.variant, dropout_keep=plan.dropout_keep,
                               use_cudnn=self.use_cudnn, mixed_precision=mixed_precision,
                               unroll=None if on_gpu else plan.variant.unroll_on_cpu or None)
      self.optimizer_groups = optimizer_groups(plan, self.model, loss_scale=mixed_precision)
    self.iterator = iter(index_batches)
    train_data = (resident(strategy, data.train_images), resident(strategy, data.train_labels))
    test_data = (resident(strategy, data.test_images), resident(strategy, data.test_labels))
    loss_kind, summed = plan.variant.loss, plan.variant.loss_reduction == "sum"

    def global_count(n):
      return tf.distribute.get_replica_context().all_reduce("sum", tf.cast(n, tf.float32))

    def sums(y, outputs):
      """This replica's summed loss and number of correct predictions."""
      per_example = losses.per_example_loss(loss_kind, y, outputs)
      return tf.reduce_sum(per_example), tf.reduce_sum(tf.cast(self._correct(y, outputs),
                                                               tf.float32))

    def update(x, y):
      """One Adam step on the global batch; returns the loss and correct sums before it."""
      groups = self.optimizer_groups
      with tf.GradientTape(persistent=mixed_precision and len(groups) > 1) as tape:
        outputs = self.model(x, training=True)
        loss_sum, correct = sums(y, outputs)
        # Averaged (or summed, as the seed did) over the global batch: the optimizer sums the
        # replicas' gradients.
        loss = loss_sum if summed else loss_sum / global_count(tf.shape(y)[0])
        # float16: each loss-scale optimizer differentiates its own scaled loss (and unscales).
        targets = [optimizer.scale_loss(loss) for optimizer, _ in groups] if mixed_precision else []
      if mixed_precision:
        for (optimizer, group), target in zip(groups, targets):
          optimizer.apply_gradients(zip(tape.gradient(target, group), group))
        return loss_sum, correct
      gradients = iter(tape.gradient(loss, [v for _, group in groups for v in group]))
      for optimizer, group in groups:
        optimizer.apply_gradients(zip([next(gradients) for _ in group], group))
      return loss_sum, correct

    def batch(indices, images, labels):
      mine = _replica_slice(indices)
      return tf.gather(images, mine), tf.gather(labels, mine)

    def update_step(indices, images, labels):
      return update(*batch(indices, images, labels))[0]

    def update_and_measure(indices, images, labels):
      x, y = batch(indices, images, labels)
      before = update(x, y)
      # The TF1 seeds' sess.run(accuracy, ...) on the same batch after the update, with its
      # training-time feed (dropout on for multilayer).
      after = sums(y, self.model(x, training=True))
      return (*before, *after, tf.cast(tf.shape(y)[0], tf.float32))

    def total(per_replica):
      return strategy.reduce("sum", per_replica, axis=None)

    @tf.function
    def train_loop(num_steps):
      """Up to num_steps updates, stopping after the first whose loss is not finite (its
      update is applied: the weights are no longer good). Returns (finite updates, last loss)."""
      finite_steps, loss = tf.constant(0), tf.constant(0.0)
      for _ in tf.range(num_steps):
        loss = total(strategy.run(update_step, args=(next(self.iterator), *train_data)))
        if not tf.math.is_finite(loss):
          break
        finite_steps += 1
      return finite_steps, loss

    @tf.function
    def train_step_measured():
      results = strategy.run(update_and_measure, args=(next(self.iterator), *train_data))
      return [total(r) for r in results]

    @tf.function
    def eval_correct(start, stop):
      def replica(images, labels):
        x, y = batch(tf.range(start, stop), images, labels)
        # int32: collective gathers do not take bool.
        return tf.cast(self._correct(y, self.model(x, training=False)), tf.int32)
      return strategy.gather(strategy.run(replica, args=test_data), axis=0)

    @tf.function
    def steps_differ(step):
      # All-reduce has only sum and mean: the replicas' steps are all equal exactly when
      # n * sum(s^2) == sum(s)^2 (Cauchy-Schwarz), which every worker computes alike.
      def replica():
        context = tf.distribute.get_replica_context()
        own = tf.identity(step)  # on this replica's device
        s, s2 = context.all_reduce("sum", [own, own * own])
        return context.num_replicas_in_sync * s2 != s * s
      return strategy.experimental_local_results(strategy.run(replica))[0]

    self.train_loop, self.train_step_measured = train_loop, train_step_measured
    self.eval_correct, self.steps_differ = eval_correct, steps_differ

  def _correct(self, labels, outputs):
    tf = self.tf
    return tf.equal(tf.argmax(outputs, axis=1, output_type=tf.int64), tf.cast(labels, tf.int64))

  def correct_per_example(self, num_examples):
    """Whether each of the first `num_examples` test examples is classified correctly."""
    tf = self.tf
    return np.concatenate([
        self.eval_correct(tf.constant(start, tf.int64),
                          tf.constant(min(start + EVAL_BATCH_SIZE, num_examples), tf.int64))
        .numpy() for start in range(0, num_examples, EVAL_BATCH_SIZE)]).astype(bool)

  def check_workers_agree(self, step):
    """All workers must continue from the same update (MODEL_DIR on a shared filesystem)."""
    if self.steps_differ(self.tf.constant(step, self.tf.int64)):
      raise ConfigError(
          f"The workers found checkpoints of different updates (this one: {step}) in "
          "--model_dir: with several workers, --model_dir must be one shared directory "
          "(a network filesystem or gs://) that every worker reads.")


def trained_examples(plan, num_train):
  """Examples consumed by the schedule (torch epochs end with a partial batch)."""
  per_epoch = steps_per_epoch(plan.variant, plan.batch_size, num_train)
  if plan.variant.data_split != "torch":
    return plan.train_steps * plan.batch_size
  epochs, rest = divmod(plan.train_steps, per_epoch)
  return epochs * num_train + rest * plan.batch_size


def export_model(model, path):
  """A `.keras` file, or a TF SavedModel directory for serving."""
  if path.endswith(".keras"):
    model.save(path)
  else:
    model.export(path, format="tf_saved_model")


def load_batch_indices(path, plan, num_train):
  """A recorded batch order for matched runs, checked against the plan."""
  try:
    order = np.load(path)
  except (OSError, ValueError) as e:
    raise ConfigError(f"--batch_indices={path} is not a readable .npy file ({e}).") from None
  if order.ndim != 2 or order.shape[0] < plan.train_steps or order.shape[1] != plan.batch_size:
    raise ConfigError(
        f"--batch_indices={path} holds an array of shape {list(order.shape)}; this run needs "
        f"at least {plan.train_steps} batches of {plan.batch_size}: [steps >= "
        f"{plan.train_steps}, {plan.batch_size}].")
  if order.min() < 0 or order.max() >= num_train:
    raise ConfigError(f"--batch_indices={path} must index the {num_train} training examples "
                      f"(0..{num_train - 1}).")
  return order[:plan.train_steps]


def train_index_batches(plan, num_train, seed, batch_indices=None):
  """The seed's batch order as batches of training-split indices: TF1 next_batch (seeded as
  tf.set_random_seed(seed) did), or the torch DataLoader's reshuffled epochs with their partial
  last batch; or a recorded order."""
  from tf_rnn_mnist.data import pipelines
  if batch_indices is not None:
    order = load_batch_indices(batch_indices, plan, num_train)
    return pipelines.ordered_index_batches(order, num_train)
  if plan.variant.data_split == "torch":
    return pipelines.shuffled_index_batches(num_train, plan.batch_size, seed=seed)
  order = TF1BatchOrder(num_train, seed).take(plan.batch_size, plan.train_steps)
  return pipelines.ordered_index_batches(order, num_train)


def run(config, datasets_override=None, strategy_override=None):
  """Trains `config.variant`, writes the outputs asked for, and returns the results dict.

  datasets_override: a Datasets to train and test on instead of MNIST (tests use tiny data).
  strategy_override: a tf.distribute.Strategy to use instead of --strategy.
  Under MultiWorkerMirroredStrategy every worker trains; only the chief writes the export and
  the results (checkpoints: see checkpoints.py).
  """
  variant = variants.get_variant(config.variant)
  check_outputs(config)
  strategy = strategy_override or distribute.make_strategy(config.strategy, config.tpu)
  if datasets_override is None:
    from tf_rnn_mnist.data import load_mnist
    data = datasets_for(variant, load_mnist(config.data_source, config.data_dir,
                                            config.verify_digests, config.tfds_data_dir))
  else:
    data = datasets_override
  trainer, results = train_model(config, data, strategy)
  if distribute.is_chief(strategy):
    if config.export:
      export_model(trainer.model, config.export)
    if config.results_json:
      results_io.write_json(config.results_json, results)
  return results


class _Log:
  """Seed-style lines on stdout, a progress bar on stderr, scalars for TensorBoard."""

  def __init__(self, config, total_steps, done, chief=True):
    import tensorflow as tf
    from tqdm.auto import tqdm
    self.tf, self.chief = tf, chief
    directory = config.tensorboard_dir or (
        os.path.join(config.model_dir, "tensorboard") if config.model_dir else None)
    self.writer = (tf.summary.create_file_writer(directory) if directory and chief
                   else tf.summary.create_noop_writer())
    self.progress = tqdm(total=total_steps, initial=done, unit="step", leave=False,
                         disable=(not chief) or (None if config.progress is None
                                                 else not config.progress))

  def line(self, text):
    if not text or not self.chief:
      return
    if self.progress.disable:
      print(text, flush=True)
    else:
      self.progress.write(text)

  def scalars(self, step, **values):
    with self.writer.as_default(step=step):
      for name, value in values.items():
        self.tf.summary.scalar(name.replace("__", "/"), value)

  def close(self):
    self.progress.close()
    self.writer.flush()


def run_description(config, plan, num_train):
  """What makes a checkpoint this run's: resuming under other values would not continue it.
  (--train_steps may grow: the batch order of a longer run starts with the shorter one's.)"""
  return {"variant": plan.variant.name, "seed": config.seed, "batch_size": plan.batch_size,
          "learning_rate": plan.learning_rate, "dropout_keep": plan.dropout_keep,
          "num_train": num_train, "init_from": config.init_from,
          "batch_indices": config.batch_indices, "mixed_precision": config.mixed_precision}


def weights_sha256(model):
  """A digest of the model's weights: equal digests, bit-identical weights."""
  import hashlib
  digest = hashlib.sha256()
  for weight in model.weights:
    digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
  return digest.hexdigest()


def _nonfinite_error(loss, update, saved):
  if saved:
    kept = (f"The last good checkpoint, {saved[0]} (after update {saved[1]}), is kept; fix the "
            "cause (a lower --learning_rate?) and rerun with the same --model_dir to resume it.")
  else:
    kept = "No checkpoint was written before it (--model_dir with --checkpoint_every keeps one)."
  return TrainingError(f"The training loss became {loss} at update {update}; stopped. {kept}")


def train_model(config, data, strategy):
  """The training run itself: returns the Trainer (model, optimizers) and the results dict."""
  import keras
  import tensorflow as tf
  from tf_rnn_mnist import checkpoints
  num_train = len(data.train_images)
  plan = plan_run(config, num_train)
  _check_divides_among_replicas(plan.batch_size, strategy.num_replicas_in_sync)
  keras.utils.set_random_seed(config.seed)
  if config.mixed_precision and not any("GPU" in d.upper()
                                        for d in strategy.extended.worker_devices):
    raise ConfigError("--mixed_precision needs a GPU: float16 is slower than float32 on CPUs.")
  trainer = Trainer(plan, strategy, data, train_index_batches(plan, num_train, config.seed,
                                                              config.batch_indices),
                    mixed_precision=config.mixed_precision)
  chief = distribute.is_chief(strategy)
  saver = saved = None
  done, progress = 0, {}
  if config.model_dir:
    saver = checkpoints.RunCheckpoints(
        config.model_dir, run_description(config, plan, num_train), chief,
        # By position: Keras 3 models expose only part of their variables to tf.train, and
        # the dropout seed generators' states (needed for an exact resume) not at all.
        model_variables=list(trainer.model.variables),
        optimizers=[optimizer for optimizer, _ in trainer.optimizer_groups],
        iterator=trainer.iterator)
    prefix, done, progress = saver.restore()
    if prefix:
      saved = (prefix, done)
  trainer.check_workers_agree(done)
  if done > plan.train_steps:
    raise ConfigError(f"--model_dir={config.model_dir} holds a checkpoint after {done} updates, "
                      f"more than this run's {plan.train_steps}.")
  if config.init_from and not done:
    from tf_rnn_mnist import convert
    convert.set_model_weights(trainer.model,
                              convert.keras_weights_from(plan.variant.name, config.init_from))
  seed_n = min(plan.variant.seed_eval_examples or len(data.test_images), len(data.test_images))
  log = _Log(config, plan.train_steps, done, chief)
  if saved:
    log.line(f"Resuming from {saved[0]} after {done} of {plan.train_steps} updates.")
  fires = plan.counter.fires

  def checkpoint_due(updates):
    return saver is not None and config.checkpoint_every and updates % config.checkpoint_every == 0

  history, train_seconds = progress.get("history", []), progress.get("train_seconds", 0.0)
  correct, start_time = None, time.perf_counter()
  while done < plan.train_steps:
    # Run up to the next update after which the seed logged something or a checkpoint is due.
    limit = min(done + config.steps_per_loop, plan.train_steps)
    target = next((u for u in range(done + 1, limit + 1)
                   if fires(plan.variant.train_log_every, u) or fires(plan.eval_every, u)
                   or checkpoint_due(u)), limit)
    measured = fires(plan.variant.train_log_every, target)
    tic = time.perf_counter()
    if target - done - measured > 0:
      finite_steps, loss = (int(t) if t.dtype.is_integer else float(t)
                            for t in trainer.train_loop(tf.constant(target - done - measured)))
      if finite_steps < target - done - measured:
        raise _nonfinite_error(loss, done + finite_steps + 1, saved)
    if measured:
      loss_before, correct_before, loss_after, correct_after, count = (
          float(t) for t in trainer.train_step_measured())
      if not np.isfinite(loss_before):
        raise _nonfinite_error(loss_before, target, saved)
    train_seconds += time.perf_counter() - tic
    log.progress.update(target - done)
    done = target
    metrics = {}
    if measured:
      # The torch seed prints the loss of the step itself; the TF1 seeds re-run the batch.
      before = plan.variant.train_log_metric == "step_loss"
      metrics.update(train_loss=(loss_before if before else loss_after) / count,
                     train_accuracy=(correct_before if before else correct_after) / count)
      history.append({"step": done, "train_loss": metrics["train_loss"],
                      "train_accuracy": metrics["train_accuracy"]})
      log.scalars(done, train__loss=metrics["train_loss"],
                  train__accuracy=metrics["train_accuracy"])
    correct = None
    if fires(plan.eval_every, done):
      correct = trainer.correct_per_example(seed_n)
      metrics["test_accuracy"] = float(correct.mean())
      history.append({"step": done, "test_accuracy": metrics["test_accuracy"],
                      "test_examples": int(seed_n)})
      log.scalars(done, test__accuracy_seed_protocol=metrics["test_accuracy"])
    log.line(seed_log_line(plan, done, metrics))
    if checkpoint_due(done):
      saved = (saver.save(done, {"history": history, "train_seconds": train_seconds}), done)

  if saver and (not saved or saved[1] != done):
    saved = (saver.save(done, {"history": history, "train_seconds": train_seconds}), done)
  if correct is None or len(correct) < len(data.test_images):  # else the last eval was this
    correct = trainer.correct_per_example(len(data.test_images))
  test_accuracy, seed_accuracy = float(correct.mean()), float(correct[:seed_n].mean())
  log.scalars(done, test__accuracy_full=test_accuracy,
              test__accuracy_seed_protocol=seed_accuracy)
  log.close()
  for text in seed_final_lines(plan, seed_accuracy):
    log.line(text)
  log.line(f"Full test accuracy ({len(data.test_images)} images): {test_accuracy:.4f}; seed "
           f"protocol ({seed_n} images): {seed_accuracy:.4f}")
  return trainer, {
      "variant": plan.variant.name,
      "framework": "keras",
      "seed": config.seed,
      "steps": plan.train_steps,
      "batch_size": plan.batch_size,
      "learning_rate": plan.learning_rate,
      "test_accuracy": test_accuracy,
      "test_examples": len(data.test_images),
      "seed_protocol_accuracy": seed_accuracy,
      "seed_protocol_examples": int(seed_n),
      "history": history,
      # Time inside the training steps (tracing included; summed over resumed runs);
      # evaluation is not counted.
      "train_seconds": train_seconds,
      "total_seconds": time.perf_counter() - start_time,
      "examples_per_second": trained_examples(plan, num_train) / train_seconds,
      "weights_sha256": weights_sha256(trainer.model),
      "mixed_precision": config.mixed_precision,
      **distribute.describe(strategy),
      "versions": results_io.versions("tensorflow", "keras", "numpy"),
  }


def _check_divides_among_replicas(batch_size, replicas):
  if batch_size % replicas:
    raise ConfigError(
        f"--batch_size={batch_size} does not divide among {replicas} replicas; "
        f"use a multiple of {replicas} (it is the global batch).")


# ---------------------------------------------------------------------------------------------
# Command line


def define_flags():
  flags.DEFINE_enum("variant", "multilayer", list(variants.NAMES),
                    "Which seed to reproduce; see tf_rnn_mnist/variants.py.")
  flags.DEFINE_integer("train_steps", None, "Updates to run (default: the seed's schedule).")
  flags.DEFINE_integer("epochs", None, "Alternative to --train_steps: epochs of the seed's "
                       "training split (55000 for the TF1 seeds, 60000 for torch_lstm).")
  flags.DEFINE_integer("batch_size", None, "Global batch size, split among replicas "
                       "(default: the seed's).")
  flags.DEFINE_float("learning_rate", None, "Adam learning rate (default: the seed's).")
  flags.DEFINE_integer("eval_every", None, "Evaluate on the seed's test subset every N seed "
                       "steps; 0 disables (default: the seed's cadence).")
  flags.DEFINE_float("dropout_keep", None, "Override the DropoutWrapper keep probability "
                     "(multilayer: 0.5); 1.0 disables dropout.")
  flags.DEFINE_integer("seed", 0, "Seeds weights, dropout and batch order; the same seed gives "
                       "bit-identical runs on CPU. TF1 seeds: the batch order equals TF1's "
                       "next_batch after tf.set_random_seed(seed).")
  data_flags.define_data_flags()
  flags.DEFINE_string("model_dir", None, "Directory for checkpoints and TensorBoard scalars. A "
                      "restarted run with the same --model_dir and flags continues exactly "
                      "from its last checkpoint.")
  flags.DEFINE_integer("checkpoint_every", None, "Save a checkpoint (model, optimizer, step, "
                       "data iterator) in --model_dir every N updates; one is always saved at "
                       "the end.")
  flags.DEFINE_string("tensorboard_dir", None, "TensorBoard scalars go here (default: "
                      "MODEL_DIR/tensorboard).")
  flags.DEFINE_string("results_json", None, "Write the results (schema in README) here.")
  flags.DEFINE_string("export", None, "Export the trained model: a path ending in .keras "
                      "(Keras model file) or a directory (TF SavedModel).")
  flags.DEFINE_enum("strategy", "auto", list(distribute.STRATEGIES),
                    "tf.distribute strategy. auto: mirrored over all GPUs when there are "
                    "several, else one_device. multi_worker reads TF_CONFIG.")
  flags.DEFINE_string("tpu", "", "TPU name or address for --strategy=tpu.")
  flags.DEFINE_integer("cpu_devices", 1, "Split the CPU into N logical devices, so that "
                       "--strategy=mirrored runs N replicas without GPUs.")
  flags.DEFINE_integer("steps_per_loop", 100, "Most updates per tf.function call.")
  flags.DEFINE_bool("mixed_precision", False, "GPU only: float16 compute with float32 "
                    "weights and loss scaling (faster on tensor cores; not the seeds' numerics).")
  flags.DEFINE_bool("progress", None, "Show a progress bar (default: when stderr is a "
                    "terminal).")
  flags.DEFINE_string("init_from", None, "Start from these weights instead of a random "
                      "initialisation: a TF1 checkpoint prefix (legacy_tf1), a PyTorch "
                      "state_dict (.pt, torch_lstm) or a .keras model. For matched runs.")
  flags.DEFINE_string("batch_indices", None, "Feed this recorded batch order, a .npy "
                      "(steps, batch) array of training-split indices, instead of the seed's "
                      "shuffled order. For matched runs.")


def config_from_flags(flag_values=flags.FLAGS):
  fields = {f.name for f in dataclasses.fields(TrainConfig)}
  return TrainConfig(**{name: flag_values[name].value for name in fields})


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
  try:
    distribute.split_cpu(flags.FLAGS.cpu_devices)
    results = run(config_from_flags())
  except (ConfigError, MnistDataError, TrainingError) as e:
    sys.exit(f"error: {e}")
  logging.info("%s: %d steps in %.1f s (%.0f examples/s), full test accuracy %.4f, weights "
               "SHA-256 %s", results["variant"], results["steps"], results["train_seconds"],
               results["examples_per_second"], results["test_accuracy"],
               results["weights_sha256"])


def run_main():
  define_flags()
  app.run(main)


if __name__ == "__main__":
  run_main()
