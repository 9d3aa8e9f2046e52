"""What every command-line entry point shares: user errors as one line, signals as one line,
`--help` and `--verbose`. (Outputs are checked before any work by outputs.py.)"""

import contextlib
import logging
import math
import os
import re
import signal
import subprocess
import sys

from absl import app
from absl import flags

from tf_rnn_mnist.plumbing import native_logs
from tf_rnn_mnist.data.errors import MnistDataError
from tf_rnn_mnist.errors import (STOP_SIGNALS, ConfigError, Interrupted, MismatchError,
                                 OutputError, TrainingError)

# Mistakes a user can fix: printed as `error: ...` with exit status 1, never a traceback.
USER_ERRORS = (ConfigError, MnistDataError, TrainingError, OutputError, MismatchError)
# --help, -help, --helpfull, --helpshort, --helpxml, -h, -?, and --help=true/1.
HELP_ARG = re.compile(r"^(--?help(full|short|xml)?(=(true|1))?|-h|-\?)$", re.IGNORECASE)


_signals_seen = []


def _raise_interrupted(signum, frame):
  """The first stop signal raises Interrupted (the tool then keeps what finished and ends
  with one line); a second one, while that exit is under way, is let pass (it would break the
  exit with a traceback); a third ends the process at once."""
  del frame
  _signals_seen.append(signum)
  if len(_signals_seen) == 1:
    raise Interrupted(signum, f"Stopped by {signal.Signals(signum).name}.")
  if len(_signals_seen) >= 3:
    say(f"Stopped by {signal.Signals(signum).name} (a third stop signal: at once, without "
         "waiting for what was under way).")
    _exit_now(128 + signum)


def _runs_a_tool():
  """Whether this process runs one of the project's tools (python -m or a console script),
  rather than, say, a test or a notebook importing the package."""
  spec = getattr(sys.modules.get("__main__"), "__spec__", None)
  return (getattr(spec, "name", "").startswith(("tf_rnn_mnist", "legacy_tf1", "legacy_torch"))
          or os.path.basename(sys.argv[0]).startswith("tf-rnn-mnist-"))


# At import: every tool imports this module before TensorFlow, whose notices start at import.
if _runs_a_tool() and not {"--verbose", "--verbose=true"} & set(sys.argv[1:]):
  native_logs.filter_stderr()
  # TensorFlow's Python INFO lines too ("Sharding callback duration" at every checkpoint),
  # which go through absl's logger as this project's own lines do: filtered by their source.
  logging.getLogger("tensorflow").setLevel(logging.WARNING)
  # matplotlib's INFO lines: "generated new fontManager" on a fresh machine's first plot.
  logging.getLogger("matplotlib").setLevel(logging.WARNING)
  logging.getLogger("absl").addFilter(
      lambda record: record.levelno >= logging.WARNING
      or not re.search(r"[/\\](tensorflow|keras|tf_keras)[/\\]", record.pathname))


def _exit_now(code):
  """Ends the process once its outputs are flushed, skipping Python's and TensorFlow's
  teardown, which took 2.6-17 s under load: a stopped run must end inside docker's grace."""
  for stream in (sys.stdout, sys.stderr):
    try:
      stream.flush()
    except OSError:
      pass
  native_logs.flush()
  os._exit(code)  # pylint: disable=protected-access


FOREIGN_FLAG_MODULES = ("absl.", "tensorflow.", "keras.", "tf_keras.", "jax.", "torch.")


def print_help(main):
  """The tool's usage (its module's docstring) and its own flags."""
  module = sys.modules.get(main.__module__)
  doc = (module.__doc__ or "").strip() if module else ""
  print(doc + "\n" if doc else "", end="")
  # absl files `python -m X`'s flags under X's path: every module but absl's and the
  # frameworks' (TensorFlow defines TPU and pfor flags when imported) is the tool's.
  own = [name for name in flags.FLAGS.flags_by_module_dict()
         if not name.startswith(FOREIGN_FLAG_MODULES)]
  print("\nflags:")
  for name in own:
    print(flags.FLAGS.module_help(name).strip().split("\n", 1)[-1])
  print("  --[no]verbose: Also print TensorFlow's own C++ notices.\n    (default: 'false')")


def run_tool(main, positional=0):
  """absl's app.run(main), refusing arguments beyond `positional` ones, with the project's
  conventions: USER_ERRORS as `error: <message>` and exit 1; a stop signal (SIGTERM, SIGINT,
  SIGHUP) as one line and exit 128 + signal, after which the process ends at once; `--help`
  lists the tool's flags and exits 0."""
  if any(HELP_ARG.match(arg) for arg in sys.argv[1:]):
    try:
      print_help(main)
    except BrokenPipeError:
      pass
    sys.exit(0)
  if "verbose" not in flags.FLAGS:
    flags.DEFINE_bool("verbose", False, "Also print TensorFlow's own C++ notices.")
  try:
    _run_tool(main, positional)
  except BrokenPipeError:  # `tool | head`: the reader left; nothing to say
    sys.exit(1)


def install_stop_handlers():
  """A stop signal raises Interrupted (one line and 128 + signal through run_tool) rather than
  a KeyboardInterrupt traceback or a silent death; tools that stop gracefully (the trainer)
  install their own handlers while they train."""
  for signum in STOP_SIGNALS:
    signal.signal(signum, _raise_interrupted)


@contextlib.contextmanager
def stops_end_quietly():
  """Around work done outside run_tool (a script's module-level import of TensorFlow): a stop
  signal ends the process with its one line and 128 + signal, not a traceback."""
  try:
    yield
  except Interrupted as e:
    say(str(e))
    _exit_now(e.exit_code)
  except KeyboardInterrupt:
    say("Stopped by SIGINT.")
    _exit_now(128 + signal.SIGINT)


def finished(what):
  """From now on a stop signal ends the process with status 0, saying `what` was done: the
  work is complete, and a supervisor must not start it again."""
  def done(signum, frame):
    del frame
    say(f"Stopped by {signal.Signals(signum).name} after the end: {what}; exit status 0.")
    _exit_now(0)
  for signum in STOP_SIGNALS:
    signal.signal(signum, done)


def say(text):
  """A line on stderr that the process's state cannot break (a closed terminal)."""
  try:
    print(text, file=sys.stderr)
  except OSError:  # the terminal closed (SIGHUP): the exit status still says it
    pass


def _run_tool(main, positional):
  install_stop_handlers()

  def main_with_clear_errors(argv):
    if len(argv) > 1 + positional:
      raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1 + positional:])}")
    with stops_end_quietly():  # SIGTERM / SIGINT / SIGHUP: 143 / 130 / 129, as a shell says
      try:
        return main(argv)
      except USER_ERRORS as e:
        sys.exit(f"error: {e}")
  app.run(main_with_clear_errors, flags_parser=_parse_flags)


def _parse_flags(argv):
  """absl's parsing, with a bad flag said as every other user error is: one `error:` line.
  A float flag given NaN or an infinity is refused: absl's bounds let NaN through (every
  comparison with it is false)."""
  try:
    parsed = flags.FLAGS(argv)
  except flags.Error as e:
    sys.exit(f"error: {str(e).rstrip('.')}. (--help lists the flags.)")
  for name in list(flags.FLAGS):
    flag = flags.FLAGS[name]
    if flag.present and isinstance(flag.value, float) and not math.isfinite(flag.value):
      sys.exit(f"error: --{name}={flag.value}: a finite number is expected. (--help lists "
               "the flags.)")
  return parsed


@contextlib.contextmanager
def forwarding_signals(children):
  """While inside: a stop signal is passed on to every live process in `children()` and then
  raises Interrupted here, so that the caller waits for them (in its `finally`) and keeps what
  finished. Children should start in their own session (start_new_session=True): a Ctrl-C in
  the terminal then reaches them once, through here."""
  def forward(signum, frame):
    for child in children():
      if child.poll() is None:
        child.send_signal(signum)
    _raise_interrupted(signum, frame)

  previous = {signum: signal.signal(signum, forward) for signum in STOP_SIGNALS}
  try:
    yield
  finally:
    for signum, handler in previous.items():
      signal.signal(signum, handler)


def run_child(command, stdout=None, stderr=None):
  """subprocess.run(command) whose child gets this process's stop signals: on SIGTERM, SIGINT
  or SIGHUP the child receives it, is waited for (it checkpoints and exits), and Interrupted
  is raised here. Returns the CompletedProcess."""
  child = subprocess.Popen(command, stdout=stdout, stderr=stderr, start_new_session=True)
  try:
    with forwarding_signals(lambda: [child]):
      child.wait()
  finally:
    if child.poll() is None:  # interrupted: the child has the signal; wait for its exit
      try:
        child.wait()
      except BaseException:  # a second signal while waiting: do not leave it running
        child.kill()
        raise
  return subprocess.CompletedProcess(command, child.returncode)
