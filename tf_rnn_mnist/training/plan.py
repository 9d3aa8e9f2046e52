"""A run's configuration, resolved once: the variant's defaults with the config's overrides,
checked, into a `Plan` that the trainer, the loop and the checkpoints read.

Nothing here imports TensorFlow: a bad flag fails in a second, before any device starts.
"""

import dataclasses
import math
import os

from tf_rnn_mnist import schedules
from tf_rnn_mnist import variants
from tf_rnn_mnist.errors import ConfigError
from tf_rnn_mnist.plumbing import outputs


# tf.distribute strategies by the name --strategy takes (distribute.make_strategy).
STRATEGIES = ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")
# Seconds a multi-worker start waits for every worker of TF_CONFIG to join (--worker_timeout).
WORKER_TIMEOUT = 300.0


def _flag(default, help_text, choices=None):
  """A TrainConfig field that is also a trainer flag (train.define_flags reads these)."""
  return dataclasses.field(default=default, metadata={"help": help_text, "choices": choices})


@dataclasses.dataclass
class TrainConfig:
  """Everything a run needs, each field once: its default, and its flag's help (the trainer's
  flags are made from these fields). None means "the variant's own value". The data fields'
  flags are the data package's (shared by every tool), so they carry no help here."""
  variant: str = _flag("multilayer", "Which tutorial to reproduce; see tf_rnn_mnist/variants.py.",
                       variants.NAMES)
  train_steps: int | None = _flag(None, "Updates to run (default: the tutorial's schedule).")
  epochs: int | None = _flag(None, "Alternative to --train_steps: epochs of the tutorial's "
                             "training split (55000 for the TF1 tutorials, 60000 for torch_lstm).")
  batch_size: int | None = _flag(None, "Global batch size, split among replicas (default: the "
                                 "tutorial's).")
  learning_rate: float | None = _flag(None, "Adam learning rate (default: the tutorial's).")
  eval_every: int | None = _flag(None, "Evaluate on the tutorial's test subset every N of its "
                                 "steps; 0 disables (default: the tutorial's cadence).")
  dropout_keep: float | None = _flag(None, "Override the DropoutWrapper keep probability "
                                     "(multilayer: 0.5); 1.0 disables dropout.")
  seed: int = _flag(0, "Seeds weights, dropout and batch order; the same seed gives "
                    "bit-identical runs on CPU. TF1 tutorials: the batch order equals TF1's "
                    "next_batch after tf.set_random_seed(seed).")
  data_source: str = "auto"
  data_dir: str | None = None
  tfds_data_dir: str | None = None
  verify_digests: bool = True
  model_dir: str | None = _flag(None, "Directory for checkpoints and TensorBoard scalars. A "
                                "restarted run with the same --model_dir and flags continues "
                                "exactly from its last checkpoint.")
  checkpoint_every: int | None = _flag(None, "Save a checkpoint (model, optimizer, step, data "
                                       "iterator) in --model_dir every N updates; one is "
                                       "always saved at the end.")
  tensorboard_dir: str | None = _flag(None, "TensorBoard scalars go here (default: "
                                      "MODEL_DIR/tensorboard).")
  results_json: str | None = _flag(None, "Write the results (schema in README) here.")
  export: str | None = _flag(None, "Export the trained model: a path ending in .keras (Keras "
                             "model file) or a directory (TF SavedModel).")
  strategy: str = _flag("auto", "tf.distribute strategy. auto: mirrored over all GPUs when "
                        "there are several, else one_device. multi_worker reads TF_CONFIG.",
                        STRATEGIES)
  tpu: str = _flag("", "TPU name or address for --strategy=tpu.")
  worker_timeout: float = _flag(WORKER_TIMEOUT, "--strategy=multi_worker: seconds to wait for "
                                "every worker of TF_CONFIG's cluster to start; then the run "
                                "ends with an error naming the ones missing.")
  steps_per_loop: int = _flag(100, "Most updates per tf.function call.")
  mixed_precision: bool = _flag(False, "GPU only: float16 compute with float32 weights and "
                                "loss scaling (faster on tensor cores; not the tutorials' "
                                "numerics).")
  progress: bool | None = _flag(None, "Show a progress bar (default: when stderr is a "
                                "terminal).")
  init_from: str | None = _flag(None, "Start from these weights instead of a random "
                                "initialisation: a TF1 checkpoint prefix (legacy_tf1), a "
                                "PyTorch state_dict (.pt, torch_lstm) or a .keras model. For "
                                "matched runs.")
  batch_indices: str | None = _flag(None, "Feed this recorded batch order, a .npy (steps, "
                                    "batch) array of training-split indices, instead of the "
                                    "tutorial's shuffled order. For matched runs.")


@dataclasses.dataclass(frozen=True)
class Plan:
  """Everything the run reads, resolved once: the variant, its numbers (the variant's defaults
  with the config's overrides) and the run's settings. Below plan_run nothing reads the
  TrainConfig, and nothing looks a variant up by name."""
  variant: variants.Variant
  num_train: int
  train_steps: int
  batch_size: int
  learning_rate: float
  eval_every: int | None
  dropout_keep: float
  counter: schedules.Counter  # the tutorial's step counter and epoch at each update
  # The run's settings, as the config gave them (TrainConfig's help says what each does).
  seed: int
  mixed_precision: bool
  init_from: str | None
  batch_indices: str | None
  model_dir: str | None
  checkpoint_every: int | None
  steps_per_loop: int
  tensorboard_dir: str | None  # resolved: --tensorboard_dir, else MODEL_DIR/tensorboard
  progress: bool | None

  def timetable(self, checkpoint_every=None):
    """When this run logs, evaluates and (every `checkpoint_every` updates) checkpoints."""
    return schedules.Timetable(self.counter, self.variant.train_log_every, self.eval_every,
                               checkpoint_every)

  def trained_examples(self):
    """Examples consumed by the schedule (torch epochs end with a partial batch)."""
    return self.variant.data_split.trained_examples(self.train_steps, self.batch_size,
                                                    self.num_train)

  def index_batches(self):
    """The training batches as a tf.data.Dataset of index batches: the tutorial's order (seeded
    as the tutorial was), or the recorded order of --batch_indices (a .npy path)."""
    if self.batch_indices is None:
      return self.variant.data_split.index_batches(self.num_train, self.batch_size,
                                                   self.train_steps, self.seed)
    from tf_rnn_mnist.data import pipelines
    from tf_rnn_mnist.data.splits import read_batch_order
    order = read_batch_order(self.batch_indices, self.num_train, self.train_steps,
                             self.batch_size)
    return pipelines.ordered_index_batches(order[:self.train_steps], self.num_train)

  def description(self):
    """What makes a checkpoint this run's: resuming under other values would not continue it.
    (--train_steps may grow: the batch order of a longer run starts with the shorter one's.)"""
    return {"variant": self.variant.name, "seed": self.seed, "batch_size": self.batch_size,
            "learning_rate": self.learning_rate, "dropout_keep": self.dropout_keep,
            "num_train": self.num_train, "init_from": self.init_from,
            "batch_indices": self.batch_indices, "mixed_precision": self.mixed_precision}




def _positive(name, value, kind=int):
  # `not value > 0` rather than `value <= 0`: NaN fails every comparison.
  if value is not None and (not isinstance(value, (int, float)) or not value > 0
                            or not math.isfinite(value)):
    what = "positive int" if kind is int else "positive, finite float"
    raise ConfigError(f"--{name} must be a {what}, got {value}.")


def check_config(config):
  """The config's own values, before anything loads: names, ranges (NaN and inf included).
  Returns the variant, resolved here once: the run passes it on (plan_run)."""
  variant = variants.get_variant(config.variant)
  if config.strategy not in STRATEGIES:
    raise ConfigError(f"--strategy={config.strategy}: choose one of {', '.join(STRATEGIES)}.")
  for name in ("train_steps", "epochs", "batch_size", "steps_per_loop", "checkpoint_every"):
    _positive(name, getattr(config, name))
  _positive("learning_rate", config.learning_rate, float)
  _positive("worker_timeout", config.worker_timeout, float)
  if config.eval_every is not None and config.eval_every < 0:
    raise ConfigError(f"--eval_every must be >= 0 (0 disables), got {config.eval_every}.")
  if config.dropout_keep is not None and not 0 < config.dropout_keep <= 1:  # NaN fails too
    raise ConfigError(f"--dropout_keep must be in (0, 1], got {config.dropout_keep}.")
  if not isinstance(config.seed, int) or not 0 <= config.seed < 2 ** 32:
    raise ConfigError(f"--seed must be in 0..2**32-1 (numpy's and TF1's seed range), got "
                      f"{config.seed}.")
  if config.train_steps is not None and config.epochs is not None:
    raise ConfigError("Pass --train_steps or --epochs, not both.")
  if config.train_steps:  # the order's size needs no data: refused before anything loads
    _check_order_fits(variant, config.train_steps, config.batch_size or variant.batch_size)
  for flag in ("init_from", "batch_indices"):
    path = getattr(config, flag)
    if path and not _input_exists(path):
      raise ConfigError(f"--{flag}={path}: no such file (nor a TF1 checkpoint prefix with "
                        f"{path}.index).")
  return variant


def _input_exists(path):
  """A file, a directory, or a checkpoint prefix (PREFIX.index beside it)."""
  return os.path.exists(path) or os.path.exists(f"{path}.index")


# The TF1 `next_batch` order is computed up front, 8 bytes per example drawn (and copied once
# into tf.data): at most this much, which allows 1M updates of 128.
MAX_ORDER_BYTES = 2 ** 30


def _check_order_fits(variant, train_steps, batch_size):
  if not variant.data_split.order_in_memory:
    return
  needed = train_steps * batch_size * 8
  if needed > MAX_ORDER_BYTES:
    raise ConfigError(
        f"{train_steps} updates of {batch_size} need a batch order of {needed / 2 ** 30:.1f} GiB "
        f"in memory; at most {MAX_ORDER_BYTES // 2 ** 30} GiB is allowed, i.e. "
        f"{MAX_ORDER_BYTES // (8 * batch_size)} updates at this batch size. Run fewer updates.")


def plan_run(config, num_train, variant=None):
  """Applies the config's overrides to the variant's defaults and validates the result.
  `variant`: what check_config returned for this config (the trainer checks it once, at the
  edge); without it the config is checked here."""
  variant = variant or check_config(config)
  batch_size = config.batch_size or variant.batch_size
  if batch_size > num_train:
    raise ConfigError(f"--batch_size={batch_size} exceeds the {num_train} training examples.")
  # The tutorial's loop decides its length and cadences from the batch size, as its code did.
  per_epoch = variant.data_split.steps_per_epoch(batch_size, num_train)
  if config.epochs is not None:
    train_steps = config.epochs * per_epoch
  else:
    train_steps = config.train_steps or variant.schedule.train_steps(batch_size, per_epoch)
  _check_order_fits(variant, train_steps, batch_size)
  tutorial_eval_every = per_epoch if variant.schedule.evaluate_each_epoch else variant.eval_every
  eval_every = tutorial_eval_every if config.eval_every is None else (config.eval_every or None)
  return Plan(variant=variant, num_train=num_train, train_steps=train_steps,
              batch_size=batch_size,
              learning_rate=config.learning_rate or variant.learning_rate,
              eval_every=eval_every,
              dropout_keep=variant.dropout_keep if config.dropout_keep is None
              else config.dropout_keep,
              counter=schedules.Counter(variant.schedule, per_epoch),
              seed=config.seed, mixed_precision=config.mixed_precision,
              init_from=config.init_from, batch_indices=config.batch_indices,
              model_dir=config.model_dir, checkpoint_every=config.checkpoint_every,
              steps_per_loop=config.steps_per_loop,
              tensorboard_dir=outputs.tensorboard_dir(config),
              progress=config.progress)
