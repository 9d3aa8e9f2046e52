"""Graceful stops: SIGTERM (docker stop, Kubernetes, Slurm), SIGINT (Ctrl-C) and SIGHUP (a
closed terminal or ssh session) end a run after the current update, with a checkpoint, instead
of losing everything since the last one.

A Python signal handler runs only when the main thread returns to the interpreter, which it
does not while a compiled loop of many updates runs. So the handler's C half writes the signal
number to a pipe (`signal.set_wakeup_fd`) and a watcher thread turns it into a tf.Variable
that the compiled loop reads before every update. A second signal of the same kind gets the
default action (SIGINT: KeyboardInterrupt; SIGTERM: the process ends).

tf.distribute.experimental.PreemptionCheckpointHandler was the model, but it wants to own the
checkpoint and to wrap each step in its own `run`; this trainer's steps run many to a compiled
call and its checkpoints carry the run description, so the same agreement is made here: under
several workers the loop does not break on one worker's flag (the others would wait for it in a
collective), and at every return to Python the workers all-reduce their flags and stop together.
"""

import os
import signal
import threading

import tensorflow as tf

from tf_rnn_mnist.errors import STOP_SIGNALS  # SIGTERM, SIGINT, SIGHUP


class StopSignals:
  """While entered (`with`), SIGTERM, SIGINT and SIGHUP set `requested` (a tf.Variable for compiled
  loops) and `signum`, instead of ending the process."""

  def __init__(self, compiled_loops_break=True):
    self.signum = None
    # Under several workers the compiled loop must not break on a local flag: it stays False.
    self.requested = tf.Variable(False, trainable=False, name="stop_requested")
    self._loops_break = compiled_loops_break
    self._previous, self._previous_fd, self._pipe = {}, None, None

  def _on_signal(self, signum, frame):
    del frame
    self._record(signum)
    signal.signal(signum, signal.default_int_handler if signum == signal.SIGINT
                  else signal.SIG_DFL)

  def _record(self, signum):
    if self.signum is None:
      self.signum = signum
      if self._loops_break:
        self.requested.assign(True)

  def _watch(self, read_fd):
    try:
      while data := os.read(read_fd, 1):
        self._record(data[0])
    except OSError:
      pass
    finally:
      os.close(read_fd)

  def __enter__(self):
    if threading.current_thread() is not threading.main_thread():
      return self  # signals reach the main thread only; a run in another thread keeps them
    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    self._pipe = (read_fd, write_fd)
    self._previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    for signum in STOP_SIGNALS:
      self._previous[signum] = signal.signal(signum, self._on_signal)
    threading.Thread(target=self._watch, args=(read_fd,), daemon=True,
                     name="stop-signal-watcher").start()
    return self

  def __exit__(self, *exc):
    if self._pipe is None:
      return
    for signum, handler in self._previous.items():
      signal.signal(signum, handler)
    signal.set_wakeup_fd(self._previous_fd)
    os.close(self._pipe[1])  # the watcher's read returns b"" and it ends
    self._pipe = None
