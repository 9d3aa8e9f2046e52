"""What a run prints and records: the tutorials' own log lines, a progress bar, TensorBoard scalars.

The tutorials' print formats are reproduced character for character (TF1's `str(numpy.float32)`,
torch's `%.4f`), so a v1 and a v2 log can be diffed.
"""

import os
import sys

import numpy as np


def _tf1_str(value):
  """How the TF1 tutorials printed a float32 fetched from sess.run: str(numpy.float32)."""
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


# What each tutorial printed at its step counter, given what was measured there.
TUTORIAL_LOG_LINES = {"epoch": _epoch_line, "train_test": _train_test_lines,
                  "iter_minibatch": _iter_minibatch_line, "torch": _torch_line}


# Said once, before a run's first tutorial line: what the tutorial's terse line holds.
LEGENDS = {
    "epoch": "(the tutorial's lines: Iter EPOCH, Testing Accuracy= the full test set's "
             "accuracy after that epoch)",
    "train_test": "(the tutorial's lines: Train STEP ACCURACY: the training batch's accuracy "
                  "after update STEP; Test STEP ACCURACY: the full test set's)",
    "iter_minibatch": "(the tutorial's lines: Iter EXAMPLES (its step counter x the batch), "
                      "the training batch's loss and accuracy after that update)",
    "torch": "(the tutorial's lines: Epoch: N | train loss: that update's loss | test "
             "accuracy: on the tutorial's first test images)"}


def tutorial_log_line(plan, update, metrics):
  """The tutorial's log line(s) after `update` (counted from 1), or None/"" where it printed
  nothing."""
  return TUTORIAL_LOG_LINES[plan.variant.tutorial_log_style](plan, update, metrics)


def tutorial_final_lines(plan, tutorial_accuracy):
  if plan.variant.tutorial_log_style == "iter_minibatch":
    return [" Finished!", f"Testing Accuracy: {_tf1_str(tutorial_accuracy)}"]
  return []


def _quiet_stdout():
  """Points stdout at /dev/null once its reader is gone, so that no later write (a log line,
  the final summary) fails and ends the run before its outputs. Not stderr: `run 2>err | head`
  closes only stdout, and an error said later (where a rescued model went) must reach err; a
  closed terminal fails stderr's writes too, which the tools' messages survive (cli.say)."""
  devnull = os.open(os.devnull, os.O_WRONLY)
  for stream in (sys.stdout,):
    try:
      stream.flush()
    except OSError:
      pass
    try:
      os.dup2(devnull, stream.fileno())
    except (OSError, ValueError):
      pass
  os.close(devnull)


class RunLog:
  """The tutorial's lines on stdout, a progress bar on stderr, scalars for TensorBoard; all of it
  on the chief only."""

  def __init__(self, plan, done, chief=True):
    import tensorflow as tf
    from tqdm.auto import tqdm
    self.tf, self.chief = tf, chief
    self.writer = (tf.summary.create_file_writer(plan.tensorboard_dir)
                   if plan.tensorboard_dir and chief else tf.summary.create_noop_writer())
    self.progress = tqdm(total=plan.train_steps, initial=done, unit="step", leave=False,
                         disable=(not chief) or (None if plan.progress is None
                                                 else not plan.progress))
    self.reader_gone = False
    self.legend = LEGENDS[plan.variant.tutorial_log_style]

  def tutorial_line(self, text):
    """A tutorial's log line, after the legend the first time."""
    if text and self.legend:
      self.line(self.legend)
      self.legend = None
    self.line(text)

  def line(self, text):
    if not text or not self.chief or self.reader_gone:
      return
    try:
      if self.progress.disable:
        print(text, flush=True)
      else:
        self.progress.write(text)
    except OSError:  # `| head` ended, or the terminal closed (EIO): the run goes on unseen
      self.reader_gone = True
      self.progress.disable = True
      _quiet_stdout()

  def scalars(self, step, **values):
    """`train__loss=x` is written as the scalar `train/loss`."""
    with self.writer.as_default(step=step):
      for name, value in values.items():
        self.tf.summary.scalar(name.replace("__", "/"), value)

  def close(self):
    self.progress.close()
    self.writer.flush()
