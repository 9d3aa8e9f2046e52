"""The model, its optimizers, device-resident data and the compiled steps of one run.

One custom training loop for every tf.distribute strategy (Keras 3 `fit` breaks under
MultiWorkerMirroredStrategy): `strategy.run` inside a `tf.function` that runs many updates per
call. `batch_size` is the global batch: each replica gathers its slice of every batch from data
resident on its device, and the loss is reduced over the whole global batch (averaged, or
summed where the tutorial summed), so every strategy computes the same update.
"""

import hashlib

import keras
import numpy as np
import tensorflow as tf

from tf_rnn_mnist.training import distribute
from tf_rnn_mnist.model import losses
from tf_rnn_mnist.model import wavefront
from tf_rnn_mnist.errors import ConfigError
from tf_rnn_mnist.model.models import build_model, cudnn_eligible, rnn_layer_name
from tf_rnn_mnist.model.optimizers import TF1Adam, TorchAdam

EVAL_BATCH_SIZE = 1000


def optimizer_groups(plan, model, loss_scale=False):
  """[(Adam, variables)]: TF1's Adam for the TF1 tutorials; PyTorch's for torch_lstm, whose LSTM
  bias also needs its own. loss_scale: each wrapped in Keras's LossScaleOptimizer (float16).

  PyTorch's LSTM has two bias vectors, b_ih and b_hh, that always get the same gradient, so
  Adam moves each by the same step and their sum, the one bias Keras keeps, by twice that step.
  Adam with twice the learning rate on the summed bias is exactly that update.
  """
  adam_class = TorchAdam if plan.variant.adam == "torch" else TF1Adam

  def adam(learning_rate, variables):
    optimizer = adam_class(learning_rate, epsilon=plan.variant.adam_epsilon)
    if loss_scale:
      optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    optimizer.build(variables)
    return optimizer, variables

  variables = model.trainable_variables
  if plan.variant.adam != "torch":
    return [adam(plan.learning_rate, variables)]
  summed_biases = [model.get_layer(rnn_layer_name(i)).cell.bias
                   for i in range(plan.variant.layers)]
  others = [v for v in variables if all(v is not b for b in summed_biases)]
  return [adam(plan.learning_rate, others), adam(2 * plan.learning_rate, summed_biases)]


def _replica_slice(indices):
  """This replica's consecutive share of a global batch of indices.

  Every replica (on every worker) reads the same global batch of indices and gathers its own
  slice from the data resident on its device: the same global batch on any number of replicas,
  uneven last batches included, and the same iterator state on every worker.
  """
  context = tf.distribute.get_replica_context()
  n = tf.shape(indices)[0]
  replica, replicas = context.replica_id_in_sync_group, context.num_replicas_in_sync
  return indices[replica * n // replicas:(replica + 1) * n // replicas]


def _gather(indices, images, labels):
  mine = _replica_slice(indices)
  return tf.gather(images, mine), tf.gather(labels, mine)


def resident(strategy, array):
  """`array` copied once to each local replica's device (GPU memory on GPUs), per replica."""
  devices = strategy.extended.worker_devices

  def on_device(context):
    with tf.device(devices[context.replica_id_in_sync_group % len(devices)]):
      return tf.identity(array)
  return strategy.experimental_distribute_values_from_function(on_device)


def _correct(labels, outputs):
  return tf.equal(tf.argmax(outputs, axis=1, output_type=tf.int64), tf.cast(labels, tf.int64))


def weights_sha256(model):
  """A digest of the model's weights: equal digests, bit-identical weights."""
  digest = hashlib.sha256()
  for weight in model.weights:
    digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
  return digest.hexdigest()


class Trainer:
  """One run's model, optimizers, resident data and compiled steps. The training batches are
  the plan's (plan.index_batches: global batches of training-split indices); their iterator
  (`self.iterator`, host-side and the same on every worker) is what checkpoints save."""

  def __init__(self, plan, strategy, data, stop_requested=None):
    self.plan, self.strategy, self.mixed_precision = plan, strategy, plan.mixed_precision
    # A boolean tf.Variable the compiled loop reads before every update (preemption.py).
    self.stop_requested = stop_requested
    if stop_requested is None:
      self.stop_requested = tf.Variable(False, trainable=False, name="stop_requested")
    self.multi_worker = distribute.is_multi_worker(strategy)
    # On GPUs, cuDNN must run the eligible variants: Keras raises at build time if it cannot.
    # On CPUs, unrolling the 28 steps beats a while loop for the small variants (measured; the
    # dated figures are in docs/benchmarks.md).
    on_gpu = distribute.has_gpu(strategy)
    self.use_cudnn = True if on_gpu and cudnn_eligible(plan.variant) else "auto"
    with strategy.scope():
      self.model = build_model(plan.variant, dropout_keep=plan.dropout_keep,
                               use_cudnn=self.use_cudnn, mixed_precision=self.mixed_precision,
                               unroll=None if on_gpu else plan.variant.unroll_on_cpu or None)
      self.optimizer_groups = optimizer_groups(plan, self.model, loss_scale=self.mixed_precision)
    # The same function as the model's call, faster where it applies (wavefront.py), for the
    # batch slices the replicas compute (_replica_slice).
    n, replicas = plan.batch_size, strategy.num_replicas_in_sync
    self.wavefront = wavefront.applies(
        self.model, plan.variant, {n * (r + 1) // replicas - n * r // replicas
                                   for r in range(replicas)})
    self.iterator = iter(plan.index_batches())
    self.train_data = (resident(strategy, data.train_images),
                       resident(strategy, data.train_labels))
    self.test_data = (resident(strategy, data.test_images), resident(strategy, data.test_labels))

  # --- per replica -------------------------------------------------------------------------

  def _sums(self, y, outputs):
    """This replica's summed loss and number of correct predictions."""
    per_example = losses.per_example_loss(self.plan.variant.loss, y, outputs)
    return (tf.reduce_sum(per_example),
            tf.reduce_sum(tf.cast(_correct(y, outputs), tf.float32)))

  def _training_outputs(self, x):
    if self.wavefront:
      return wavefront.stack_outputs(self.model, self.plan.variant, x)
    return self.model(x, training=True)

  def _update(self, x, y):
    """One Adam step on the global batch; returns the loss and correct sums before it."""
    groups, mixed = self.optimizer_groups, self.mixed_precision
    with tf.GradientTape(persistent=mixed and len(groups) > 1) as tape:
      outputs = self._training_outputs(x)
      loss_sum, correct = self._sums(y, outputs)
      # Averaged (or summed, as the tutorial did) over the global batch: the optimizer sums the
      # replicas' gradients.
      if self.plan.variant.loss_reduction == "sum":
        loss = loss_sum
      else:
        loss = loss_sum / tf.distribute.get_replica_context().all_reduce(
            "sum", tf.cast(tf.shape(y)[0], tf.float32))
      # float16: each loss-scale optimizer differentiates its own scaled loss (and unscales).
      targets = [optimizer.scale_loss(loss) for optimizer, _ in groups] if mixed else []
    if mixed:
      for (optimizer, group), target in zip(groups, targets):
        optimizer.apply_gradients(zip(tape.gradient(target, group), group))
      return loss_sum, correct
    gradients = iter(tape.gradient(loss, [v for _, group in groups for v in group]))
    for optimizer, group in groups:
      optimizer.apply_gradients(zip([next(gradients) for _ in group], group))
    return loss_sum, correct

  def _update_step(self, indices, images, labels):
    return self._update(*_gather(indices, images, labels))[0]

  def _update_and_measure(self, indices, images, labels):
    x, y = _gather(indices, images, labels)
    before = self._update(x, y)
    # The TF1 tutorials' sess.run(accuracy, ...) on the same batch after the update, with its
    # training-time feed (dropout on for multilayer).
    after = self._sums(y, self._training_outputs(x))
    return (*before, *after, tf.cast(tf.shape(y)[0], tf.float32))

  def _total(self, per_replica):
    return self.strategy.reduce("sum", per_replica, axis=None)

  # --- compiled steps ----------------------------------------------------------------------

  @tf.function
  def train_loop(self, num_steps):
    """Up to num_steps updates, stopping after the first whose loss is not finite (its
    update is applied: the weights are no longer good), or before the next update once a stop
    is requested. Returns (finite updates, last loss)."""
    finite_steps, loss = tf.constant(0), tf.constant(0.0)
    for _ in tf.range(num_steps):
      if self.stop_requested.read_value():
        break
      loss = self._total(self.strategy.run(self._update_step,
                                            args=(next(self.iterator), *self.train_data)))
      if not tf.math.is_finite(loss):
        break
      finite_steps += 1
    return finite_steps, loss

  @tf.function
  def train_step_measured(self):
    """One update; returns the global (loss, correct) sums before and after it, and the
    batch size."""
    results = self.strategy.run(self._update_and_measure,
                                args=(next(self.iterator), *self.train_data))
    return [self._total(r) for r in results]

  @tf.function
  def _eval_correct(self, start, stop):
    def replica(images, labels):
      x, y = _gather(tf.range(start, stop), images, labels)
      # int32: collective gathers do not take bool.
      return tf.cast(_correct(y, self.model(x, training=False)), tf.int32)
    return self.strategy.gather(self.strategy.run(replica, args=self.test_data), axis=0)

  @tf.function
  def _steps_differ(self, step):
    # All-reduce has only sum and mean: the replicas' steps are all equal exactly when
    # n * sum(s^2) == sum(s)^2 (Cauchy-Schwarz), which every worker computes alike.
    def replica():
      context = tf.distribute.get_replica_context()
      own = tf.identity(step)  # on this replica's device
      s, s2 = context.all_reduce("sum", [own, own * own])
      return context.num_replicas_in_sync * s2 != s * s
    return self.strategy.experimental_local_results(self.strategy.run(replica))[0]

  @tf.function
  def _any_replica(self, flag):
    def replica():
      own = tf.identity(flag)  # on this replica's device
      return tf.distribute.get_replica_context().all_reduce("sum", own) > 0
    return self.strategy.experimental_local_results(self.strategy.run(replica))[0]

  # --- host side ---------------------------------------------------------------------------

  def correct_per_example(self, num_examples):
    """Whether each of the first `num_examples` test examples is classified correctly."""
    return np.concatenate([
        self._eval_correct(tf.constant(start, tf.int64),
                           tf.constant(min(start + EVAL_BATCH_SIZE, num_examples), tf.int64))
        .numpy() for start in range(0, num_examples, EVAL_BATCH_SIZE)]).astype(bool)

  def check_workers_agree(self, step):
    """All workers must continue from the same update (MODEL_DIR on a shared filesystem)."""
    if self._steps_differ(tf.constant(step, tf.int64)):
      raise ConfigError(
          f"The workers found checkpoints of different updates (this one: {step}) in "
          "--model_dir: with several workers, --model_dir must be one shared directory "
          "(a network filesystem or gs://) that every worker reads.")

  def any_worker(self, flag):
    """Whether `flag` is true on any worker (every worker must call this at the same point)."""
    if not self.multi_worker:
      return bool(flag)
    return bool(self._any_replica(tf.constant(int(flag), tf.int64)))

  def weights_sha256(self):
    return weights_sha256(self.model)
