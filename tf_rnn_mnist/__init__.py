"""tf_rnn_mnist: a faithful TensorFlow 2 / Keras 3 port of the classic RNN-on-MNIST tutorials."""

import os as _os
import signal as _signal
import sys as _sys

__version__ = "0.1.0"


def _stopped_while_starting(signum, frame):
  del frame
  _os.write(2, f"Stopped by {_signal.Signals(signum).name} while starting; nothing was "
               "written.\n".encode())
  native_logs = _sys.modules.get("tf_rnn_mnist.plumbing.native_logs")
  if native_logs is not None:
    native_logs.flush()
  _os._exit(128 + signum)  # pylint: disable=protected-access


def _started_as_a_tool():
  """`python -m tf_rnn_mnist[.TOOL]` or a console script, in its main thread (not a test or a
  notebook importing the package)."""
  argv = getattr(_sys, "orig_argv", [])
  module = argv[argv.index("-m") + 1] if "-m" in argv[:-1] else ""
  script = _os.path.basename(argv[1]) if len(argv) > 1 else ""
  return module.split(".")[0] == "tf_rnn_mnist" or script.startswith("tf-rnn-mnist-")


# A stop signal before the tool's own handlers are in place (its imports take a second or
# more) ends the process at once. Python as PID 1 (a container without tini or --init) would
# otherwise ignore SIGTERM until then: the kernel gives PID 1 no default action.
if _started_as_a_tool():
  for _signum in (_signal.SIGTERM, _signal.SIGINT, _signal.SIGHUP):
    if _signal.getsignal(_signum) in (_signal.SIG_DFL, _signal.default_int_handler):
      _signal.signal(_signum, _stopped_while_starting)
