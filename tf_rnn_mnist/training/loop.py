"""The training run: start (or resume), follow the tutorial's schedule, then gather the results.

    while done < train_steps:
      target = timetable.next_stop(done, done + steps_per_loop)  # the next update that matters
      run the updates up to target (the last one measured if the tutorial logs there)
      after target: log the tutorial's line, evaluate, checkpoint -- as `timetable.after` says

Python is visited only where the tutorial logs something or a checkpoint is due; everything in
between runs inside one compiled `Trainer.train_loop` call. What happens when lives in
`schedules.Timetable`; the log formats in `tutorial_log`.
"""

import dataclasses
import re
import signal
import time
import typing

from absl import logging
import keras
import numpy as np
import tensorflow as tf

from tf_rnn_mnist.training import checkpoints
from tf_rnn_mnist.training import distribute
from tf_rnn_mnist.plumbing import results as results_io
from tf_rnn_mnist.training import tutorial_log
from tf_rnn_mnist.data import tutorial_splits
from tf_rnn_mnist.errors import ConfigError, Interrupted, TrainingError
from tf_rnn_mnist.training.plan import plan_run
from tf_rnn_mnist.training.preemption import StopSignals
from tf_rnn_mnist.training.trainer import Trainer


class Saved(typing.NamedTuple):
  """The newest checkpoint of a run."""
  prefix: str
  update: int  # updates it holds
  largest: float | None  # the largest |weight| in it (None: restored, not measured)


@dataclasses.dataclass
class Progress:
  """Where the run stands: what a checkpoint saves besides the model, optimizers and iterator."""
  done: int = 0  # updates applied
  history: list = dataclasses.field(default_factory=list)
  train_seconds: float = 0.0
  saved: Saved | None = None  # the newest checkpoint
  save_error: str | None = None  # why the newest save failed, if it did

  def extras(self):
    return {"history": self.history, "train_seconds": self.train_seconds}

  def kept(self):
    """The newest checkpoint, said for a user."""
    if not self.saved:
      return "no checkpoint"
    return f"the checkpoint {self.saved.prefix} (after update {self.saved.update})"


# Trained weights of these models stay within a few units; beyond this a run is diverging.
HUGE_WEIGHT = 1e6


def _nonfinite_error(loss, update, saved):
  if not saved:
    return TrainingError(
        f"The training loss became {loss} at update {update}; stopped. No checkpoint was "
        "written before it (--model_dir with --checkpoint_every keeps one).")
  prefix, at, largest = saved  # a Saved
  holds = "finite weights" + (f", the largest |w| = {largest:.3g}" if largest is not None else "")
  if largest is not None and largest > HUGE_WEIGHT:
    holds += (": weights this large mean the run was already diverging; an earlier checkpoint "
              "may be the better start")
  return TrainingError(
      f"The training loss became {loss} at update {update}; stopped. The last checkpoint, "
      f"{prefix} (after update {at}; {holds}), is kept. Resuming in this --model_dir would "
      "repeat the same updates; to try other settings, start a new run from it: "
      f"--model_dir=NEW_DIR --init_from={prefix} and, e.g., a lower --learning_rate.")


def _restore(plan, trainer, chief, lock, data):
  """The run's checkpoints in --model_dir (None without one) and the progress they hold."""
  if not plan.model_dir:
    return None, Progress()
  saver = checkpoints.RunCheckpoints(
      plan.model_dir, {**plan.description(), "data": tutorial_splits.training_digest(data)},
      chief, lock,
      # By position: Keras 3 models expose only part of their variables to tf.train, and
      # the dropout seed generators' states (needed for an exact resume) not at all.
      model_variables=list(trainer.model.variables),
      optimizers=[optimizer for optimizer, _ in trainer.optimizer_groups],
      iterator=trainer.iterator)
  prefix, done, extras = saver.restore()
  return saver, Progress(done, extras.get("history", []), extras.get("train_seconds", 0.0),
                         Saved(prefix, done, None) if prefix else None)


def _initialise_from(path, trainer, variant):
  """--init_from: this trainer's own checkpoint, a TF1 checkpoint, a state_dict or .keras."""
  if checkpoints.is_run_checkpoint(path):
    checkpoints.restore_model(path, trainer.model, variant)
    return
  from tf_rnn_mnist.model import weight_maps  # TensorFlow checkpoint / PyTorch readers: on demand
  weight_maps.set_model_weights(trainer.model, weight_maps.keras_weights_from(variant, path))


def start(plan, data, strategy, stop_requested=None, lock=None):
  """The seeded Trainer, restored from --model_dir or started from --init_from, its
  checkpoints and its progress."""
  distribute.check_divides_among_replicas(plan.batch_size, strategy)
  keras.utils.set_random_seed(plan.seed)
  distribute.check_mixed_precision(plan.mixed_precision, strategy)
  trainer = Trainer(plan, strategy, data, stop_requested=stop_requested)
  saver, progress = _restore(plan, trainer, distribute.is_chief(strategy), lock, data)
  trainer.check_workers_agree(progress.done)
  if progress.done > plan.train_steps:
    raise ConfigError(f"--model_dir={plan.model_dir} holds a checkpoint after "
                      f"{progress.done} updates, more than this run's {plan.train_steps}.")
  if plan.init_from and not progress.done:
    _initialise_from(plan.init_from, trainer, plan.variant)
  return trainer, saver, progress


def checkpoint(saver, progress):
  """Saves the progress, unless a weight is not finite: a checkpoint is always one that can be
  trained from. A save that fails (a full disk) is said and recorded, and the run goes on:
  its results and export are still written, and the older checkpoints are kept."""
  finite, largest = checkpoints.weights_summary(saver.model_variables)
  if not finite:
    logging.warning("Not saving a checkpoint after update %d: some weights are not finite.",
                    progress.done)
    return
  try:
    progress.saved = Saved(saver.save(progress.done, progress.extras()), progress.done, largest)
    progress.save_error = None
  except ConfigError as e:  # the lock's check: the directory was replaced under the run
    progress.save_error = f"The checkpoint after update {progress.done} was not saved: {e}"
    logging.warning("%s Training goes on.", progress.save_error)
  except (OSError, tf.errors.OpError) as e:
    progress.save_error = (f"The checkpoint after update {progress.done} could not be saved in "
                           f"{saver.directory} ({type(e).__name__}: {_first_line(e)}).")
    logging.warning("%s Training goes on.", progress.save_error)


def _first_line(error):
  """An error's own message: TensorFlow prefixes ops' errors with {{function_node ...}}."""
  text = str(error).splitlines()[0] if str(error) else ""
  return re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", text)


def advance(trainer, plan, progress, target, measured):
  """Applies the updates up to `target`, measuring the last one if `measured`; returns the
  tutorial's training metrics of it ({} if not measured). Returns early, with progress.done short
  of `target`, if a stop was requested."""
  unmeasured = target - progress.done - measured
  tic = time.perf_counter()
  if unmeasured > 0:
    finite_steps, loss = (int(t) if t.dtype.is_integer else float(t)
                          for t in trainer.train_loop(tf.constant(unmeasured)))
    if finite_steps < unmeasured:
      if not np.isfinite(loss):
        raise _nonfinite_error(loss, progress.done + finite_steps + 1, progress.saved)
      progress.done += finite_steps  # the loop broke on a stop request
      progress.train_seconds += time.perf_counter() - tic
      return {}
  if measured:
    loss_before, correct_before, loss_after, correct_after, count = (
        float(t) for t in trainer.train_step_measured())
    if not np.isfinite(loss_before):
      raise _nonfinite_error(loss_before, target, progress.saved)
  progress.train_seconds += time.perf_counter() - tic
  progress.done = target
  if not measured:
    return {}
  # The torch tutorial prints the loss of the step itself; the TF1 tutorials re-run the batch.
  before = plan.variant.train_log_metric == "step_loss"
  metrics = {"train_loss": (loss_before if before else loss_after) / count,
             "train_accuracy": (correct_before if before else correct_after) / count}
  progress.history.append({"step": target, **metrics})
  return metrics


@dataclasses.dataclass
class Session:
  """One run's working parts, resolved once: what the schedule loop and its steps share."""
  plan: object  # plan.Plan
  trainer: Trainer
  saver: checkpoints.RunCheckpoints | None  # None without --model_dir
  progress: Progress
  log: tutorial_log.RunLog
  stop: StopSignals
  tutorial_n: int  # test examples of the tutorial's own evaluation

  def follow_schedule(self):
    """Runs the remaining updates, logging, evaluating and checkpointing as the timetable says;
    returns the last evaluation's per-example correctness (or None)."""
    plan, progress = self.plan, self.progress
    timetable = plan.timetable(plan.checkpoint_every if self.saver else None)
    correct = None  # the evaluation after the last update, if there was one
    while progress.done < plan.train_steps:
      done = progress.done
      target = timetable.next_stop(done, min(done + plan.steps_per_loop, plan.train_steps))
      after = timetable.after(target)
      metrics = advance(self.trainer, plan, progress, target, after.log_train)
      self.log.progress.update(progress.done - done)
      if progress.done == target:  # else a stop request broke the compiled loop
        correct = self.after_update(after, metrics)
      if self.trainer.any_worker(self.stop.signum is not None):
        self.stop_here()
    return correct

  def after_update(self, after, metrics):
    """What the timetable says happens after an update: the tutorial's log line (with its
    training metrics and evaluation) and the checkpoint. Returns the evaluation's per-example
    correctness, or None."""
    progress, log = self.progress, self.log
    if metrics:
      log.scalars(progress.done, train__loss=metrics["train_loss"],
                  train__accuracy=metrics["train_accuracy"])
    correct = None
    if after.evaluate:
      correct = self.trainer.correct_per_example(self.tutorial_n)
      metrics["test_accuracy"] = float(correct.mean())
      progress.history.append({"step": progress.done, "test_accuracy": metrics["test_accuracy"],
                               "test_examples": int(self.tutorial_n)})
      log.scalars(progress.done, test__accuracy_tutorial_protocol=metrics["test_accuracy"])
    log.tutorial_line(tutorial_log.tutorial_log_line(self.plan, progress.done, metrics))
    if after.checkpoint:
      checkpoint(self.saver, progress)
    return correct

  def stop_here(self):
    """Ends the run on a stop signal: a checkpoint (with --model_dir), then Interrupted."""
    saver, progress = self.saver, self.progress
    if saver:
      checkpoint(saver, progress)
    self.log.close()
    signum = self.stop.signum or signal.SIGTERM  # another worker's signal
    where = (f"Checkpoint {progress.saved.prefix}: run the same command to resume."
             if saver and progress.saved else "Nothing was saved (no --model_dir).")
    if saver and progress.save_error:
      where = (f"{progress.save_error} Kept: {progress.kept()}; the same command resumes from "
               "it.")
    raise Interrupted(signum, f"Stopped by {signal.Signals(signum).name} after update "
                              f"{progress.done} of {self.plan.train_steps}. {where}")


def train_model(config, data, strategy, stop=None, lock=None, variant=None):
  """The training run itself: returns the Trainer (model, optimizers), the results dict and
  the Progress (its newest checkpoint, and why the last save failed if it did).

  stop: the StopSignals the run obeys (preemption.py); lock: --model_dir's RunLock, checked
  before every save. Without `stop`, signals keep their handlers (a run in a test). variant:
  check_config's for this config (train.run's), else it is checked here."""
  stop = stop or StopSignals()
  plan = plan_run(config, len(data.train_images), variant)  # below here: the plan only
  trainer, saver, progress = start(plan, data, strategy, stop.requested, lock)
  log = tutorial_log.RunLog(plan, progress.done, distribute.is_chief(strategy))
  if progress.saved and progress.done >= plan.train_steps:
    log.line(f"The run in {plan.model_dir} had finished ({progress.saved.prefix}: all "
             f"{plan.train_steps} updates): nothing to train; its accuracy follows.")
  elif progress.saved:
    log.line(f"Resuming from {progress.saved.prefix} after {progress.done} of "
             f"{plan.train_steps} updates.")
  if trainer.strategy.num_replicas_in_sync > 1:
    replicas = trainer.strategy.num_replicas_in_sync
    log.line(f"{distribute.describe(trainer.strategy)['strategy']}: {replicas} replicas, each "
             f"computing its share of every global batch of {plan.batch_size}.")
  resumed_at = progress.done
  tutorial_n = min(plan.variant.tutorial_eval_examples or len(data.test_images),
                   len(data.test_images))
  start_time = time.perf_counter()
  correct = Session(plan, trainer, saver, progress, log, stop, tutorial_n).follow_schedule()
  if saver and (not progress.saved or progress.saved.update != progress.done):
    checkpoint(saver, progress)
  if correct is None or len(correct) < len(data.test_images):  # else the last eval was this
    correct = trainer.correct_per_example(len(data.test_images))
  accuracy = _report_accuracy(plan, log, correct, tutorial_n)
  return trainer, results(plan, trainer, progress, accuracy,
                          time.perf_counter() - start_time,
                          progress.done - resumed_at), progress


@dataclasses.dataclass(frozen=True)
class Accuracy:
  test: float  # on the whole test set
  test_examples: int
  tutorial_protocol: float  # on the tutorial's test subset
  tutorial_protocol_examples: int


def _report_accuracy(plan, log, correct, tutorial_n):
  """The final accuracies, logged as the tutorial and this project log them."""
  accuracy = Accuracy(float(correct.mean()), len(correct), float(correct[:tutorial_n].mean()),
                      int(tutorial_n))
  log.scalars(plan.train_steps, test__accuracy_full=accuracy.test,
              test__accuracy_tutorial_protocol=accuracy.tutorial_protocol)
  log.close()
  for text in tutorial_log.tutorial_final_lines(plan, accuracy.tutorial_protocol):
    log.line(text)
  log.line(results_io.summary_line(accuracy.test, accuracy.test_examples,
                                   accuracy.tutorial_protocol,
                                   accuracy.tutorial_protocol_examples))
  return accuracy


def results(plan, trainer, progress, accuracy, total_seconds, updates_this_run):
  """The results dict (schema in the README)."""
  return {
      "variant": plan.variant.name,
      "framework": "keras",
      "seed": plan.seed,
      "steps": plan.train_steps,
      "updates_this_run": updates_this_run,  # 0: a finished run's model_dir, run again
      "batch_size": plan.batch_size,
      "learning_rate": plan.learning_rate,
      "test_accuracy": accuracy.test,
      "test_examples": accuracy.test_examples,
      "tutorial_protocol_accuracy": accuracy.tutorial_protocol,
      "tutorial_protocol_examples": accuracy.tutorial_protocol_examples,
      "history": progress.history,
      # Time inside the training steps (tracing included; summed over resumed runs);
      # evaluation is not counted.
      "train_seconds": progress.train_seconds,
      "total_seconds": total_seconds,
      "examples_per_second": plan.trained_examples() / progress.train_seconds,
      "weights_sha256": trainer.weights_sha256(),
      "mixed_precision": plan.mixed_precision,
      **distribute.describe(trainer.strategy),
      "versions": results_io.versions("tensorflow", "keras", "numpy"),
  }
