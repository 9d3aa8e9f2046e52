"""The training run: start (or resume), follow the seed's schedule, then gather the results.

    while done < train_steps:
      target = timetable.next_stop(done, done + steps_per_loop)  # the next update that matters
      run the updates up to target (the last one measured if the seed logs there)
      after target: log the seed's line, evaluate, checkpoint -- as `timetable.after` says

Python is visited only where the seed logs something or a checkpoint is due; everything in
between runs inside one compiled `Trainer.train_loop` call. What happens when lives in
`schedules.Timetable`; the log formats in `seed_log`.
"""

import dataclasses
import time

import keras
import numpy as np
import tensorflow as tf

from tf_rnn_mnist import checkpoints
from tf_rnn_mnist import distribute
from tf_rnn_mnist import results as results_io
from tf_rnn_mnist import seed_log
from tf_rnn_mnist.errors import ConfigError, TrainingError
from tf_rnn_mnist.plan import plan_run
from tf_rnn_mnist.trainer import Trainer


@dataclasses.dataclass
class Progress:
  """Where the run stands: what a checkpoint saves besides the model, optimizers and iterator."""
  done: int = 0  # updates applied
  history: list = dataclasses.field(default_factory=list)
  train_seconds: float = 0.0
  saved: tuple | None = None  # (prefix, update) of the newest checkpoint

  def extras(self):
    return {"history": self.history, "train_seconds": self.train_seconds}


def _nonfinite_error(loss, update, saved):
  if saved:
    kept = (f"The last good checkpoint, {saved[0]} (after update {saved[1]}), is kept; fix the "
            "cause (a lower --learning_rate?) and rerun with the same --model_dir to resume it.")
  else:
    kept = "No checkpoint was written before it (--model_dir with --checkpoint_every keeps one)."
  return TrainingError(f"The training loss became {loss} at update {update}; stopped. {kept}")


def _restore(config, plan, trainer, chief):
  """The run's checkpoints in --model_dir (None without one) and the progress they hold."""
  if not config.model_dir:
    return None, Progress()
  saver = checkpoints.RunCheckpoints(
      config.model_dir, plan.description(config), chief,
      # By position: Keras 3 models expose only part of their variables to tf.train, and
      # the dropout seed generators' states (needed for an exact resume) not at all.
      model_variables=list(trainer.model.variables),
      optimizers=[optimizer for optimizer, _ in trainer.optimizer_groups],
      iterator=trainer.iterator)
  prefix, done, extras = saver.restore()
  return saver, Progress(done, extras.get("history", []), extras.get("train_seconds", 0.0),
                         (prefix, done) if prefix else None)


def start(config, plan, data, strategy):
  """The seeded Trainer, restored from --model_dir or started from --init_from, its
  checkpoints and its progress."""
  distribute.check_divides_among_replicas(plan.batch_size, strategy)
  keras.utils.set_random_seed(config.seed)
  distribute.check_mixed_precision(config.mixed_precision, strategy)
  trainer = Trainer(plan, strategy, data, plan.index_batches(config.seed, config.batch_indices),
                    mixed_precision=config.mixed_precision)
  saver, progress = _restore(config, plan, trainer, distribute.is_chief(strategy))
  trainer.check_workers_agree(progress.done)
  if progress.done > plan.train_steps:
    raise ConfigError(f"--model_dir={config.model_dir} holds a checkpoint after "
                      f"{progress.done} updates, more than this run's {plan.train_steps}.")
  if config.init_from and not progress.done:
    from tf_rnn_mnist import weight_maps  # TensorFlow checkpoint / PyTorch readers: on demand
    weight_maps.set_model_weights(trainer.model,
                                  weight_maps.keras_weights_from(plan.variant, config.init_from))
  return trainer, saver, progress


def advance(trainer, plan, progress, target, measured):
  """Applies the updates up to `target`, measuring the last one if `measured`; returns the
  seed's training metrics of it ({} if not measured)."""
  unmeasured = target - progress.done - measured
  tic = time.perf_counter()
  if unmeasured > 0:
    finite_steps, loss = (int(t) if t.dtype.is_integer else float(t)
                          for t in trainer.train_loop(tf.constant(unmeasured)))
    if finite_steps < unmeasured:
      raise _nonfinite_error(loss, progress.done + finite_steps + 1, progress.saved)
  if measured:
    loss_before, correct_before, loss_after, correct_after, count = (
        float(t) for t in trainer.train_step_measured())
    if not np.isfinite(loss_before):
      raise _nonfinite_error(loss_before, target, progress.saved)
  progress.train_seconds += time.perf_counter() - tic
  progress.done = target
  if not measured:
    return {}
  # The torch seed prints the loss of the step itself; the TF1 seeds re-run the batch.
  before = plan.variant.train_log_metric == "step_loss"
  metrics = {"train_loss": (loss_before if before else loss_after) / count,
             "train_accuracy": (correct_before if before else correct_after) / count}
  progress.history.append({"step": target, **metrics})
  return metrics


def train_model(config, data, strategy):
  """The training run itself: returns the Trainer (model, optimizers) and the results dict."""
  plan = plan_run(config, len(data.train_images))
  trainer, saver, progress = start(config, plan, data, strategy)
  log = seed_log.RunLog(config, plan.train_steps, progress.done, distribute.is_chief(strategy))
  if progress.saved:
    log.line(f"Resuming from {progress.saved[0]} after {progress.done} of {plan.train_steps} "
             "updates.")
  timetable = plan.timetable(config.checkpoint_every if saver else None)
  seed_n = min(plan.variant.seed_eval_examples or len(data.test_images), len(data.test_images))
  correct, start_time = None, time.perf_counter()
  while progress.done < plan.train_steps:
    done = progress.done
    target = timetable.next_stop(done, min(done + config.steps_per_loop, plan.train_steps))
    after = timetable.after(target)
    metrics = advance(trainer, plan, progress, target, after.log_train)
    log.progress.update(target - done)
    if metrics:
      log.scalars(target, train__loss=metrics["train_loss"],
                  train__accuracy=metrics["train_accuracy"])
    correct = None
    if after.evaluate:
      correct = trainer.correct_per_example(seed_n)
      metrics["test_accuracy"] = float(correct.mean())
      progress.history.append({"step": target, "test_accuracy": metrics["test_accuracy"],
                               "test_examples": int(seed_n)})
      log.scalars(target, test__accuracy_seed_protocol=metrics["test_accuracy"])
    log.line(seed_log.seed_log_line(plan, target, metrics))
    if after.checkpoint:
      progress.saved = (saver.save(target, progress.extras()), target)
  if saver and (not progress.saved or progress.saved[1] != progress.done):
    progress.saved = (saver.save(progress.done, progress.extras()), progress.done)
  if correct is None or len(correct) < len(data.test_images):  # else the last eval was this
    correct = trainer.correct_per_example(len(data.test_images))
  accuracy = _report_accuracy(plan, log, correct, seed_n)
  return trainer, results(config, plan, trainer, progress, accuracy,
                          time.perf_counter() - start_time)


@dataclasses.dataclass(frozen=True)
class Accuracy:
  test: float  # on the whole test set
  test_examples: int
  seed_protocol: float  # on the seed's test subset
  seed_protocol_examples: int


def _report_accuracy(plan, log, correct, seed_n):
  """The final accuracies, logged as the seed and this project log them."""
  accuracy = Accuracy(float(correct.mean()), len(correct), float(correct[:seed_n].mean()),
                      int(seed_n))
  log.scalars(plan.train_steps, test__accuracy_full=accuracy.test,
              test__accuracy_seed_protocol=accuracy.seed_protocol)
  log.close()
  for text in seed_log.seed_final_lines(plan, accuracy.seed_protocol):
    log.line(text)
  log.line(seed_log.summary_line(accuracy.test, accuracy.test_examples, accuracy.seed_protocol,
                                 accuracy.seed_protocol_examples))
  return accuracy


def results(config, plan, trainer, progress, accuracy, total_seconds):
  """The results dict (schema in the README)."""
  return {
      "variant": plan.variant.name,
      "framework": "keras",
      "seed": config.seed,
      "steps": plan.train_steps,
      "batch_size": plan.batch_size,
      "learning_rate": plan.learning_rate,
      "test_accuracy": accuracy.test,
      "test_examples": accuracy.test_examples,
      "seed_protocol_accuracy": accuracy.seed_protocol,
      "seed_protocol_examples": accuracy.seed_protocol_examples,
      "history": progress.history,
      # Time inside the training steps (tracing included; summed over resumed runs);
      # evaluation is not counted.
      "train_seconds": progress.train_seconds,
      "total_seconds": total_seconds,
      "examples_per_second": plan.trained_examples() / progress.train_seconds,
      "weights_sha256": trainer.weights_sha256(),
      "mixed_precision": config.mixed_precision,
      **distribute.describe(trainer.strategy),
      "versions": results_io.versions("tensorflow", "keras", "numpy"),
  }
