"""Exceptions for mistakes a user can fix; entry points print them and exit non-zero."""

import signal

# Stop requests: SIGTERM (docker stop, Kubernetes), SIGINT (Ctrl-C), SIGHUP (a closed terminal).
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class ConfigError(ValueError):
  """A flag or config value is invalid; the message says what is accepted."""


class TrainingError(RuntimeError):
  """Training cannot go on (a non-finite loss); the message says what was kept and what to do."""


class OutputError(RuntimeError):
  """An output could not be written after the work was done; the message says where the
  finished work was saved instead."""


class Interrupted(BaseException):
  """The run stopped on a signal (preemption.py); `exit_code` is the shell's 128 + signal.
  A BaseException, as KeyboardInterrupt is: a library's `except Exception` must not swallow a
  stop (one did, during TensorFlow's start)."""

  def __init__(self, signum, message):
    super().__init__(message)
    self.signum, self.exit_code = signum, 128 + signum


class MismatchError(RuntimeError):
  """A converted model does not compute what its source computed; the message gives the
  largest difference and where it was measured."""
