"""Waiting for the other workers of a multi-worker run: said, and for a bounded time.

MultiWorkerMirroredStrategy's constructor blocks inside TensorFlow's C++ runtime until every
task of TF_CONFIG's cluster has joined: for as long as one is missing (20 minutes and more),
saying nothing, and holding Python's interpreter lock, so that no Python thread or signal
handler of the process runs meanwhile (measured: a watcher thread never printed; the
coordination service's registration timeout did not end the wait either). So the waiting is
watched from outside: a small process (this module's main) says which workers do not answer at
their address yet, every REPORT_EVERY seconds, and after --worker_timeout seconds says which
are missing and ends the run with SIGKILL (TensorFlow's preemption notifier has taken SIGTERM
by then; exit status 137). SIGINT and SIGHUP end the waiting run at once (there is nothing to
save yet). The watcher ends when its stdin closes: the strategy is built, or the
run has ended.
"""

import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import time

REPORT_EVERY = 10.0


def reachable(address, timeout=0.5):
  host, _, port = address.rpartition(":")
  try:
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
      return True
  except (OSError, ValueError):
    return False


def missing(cluster, task):
  """The other tasks whose address does not answer yet, as 'worker 1 (host:port)'."""
  return [f"{job} {i} ({address})" for job, addresses in cluster.items()
          for i, address in enumerate(addresses)
          if [job, i] != list(task) and not reachable(address)]


@contextlib.contextmanager
def bounded_wait(cluster, task, seconds):
  """Around the strategy's construction (cluster: TF_CONFIG's; task: (job, index))."""
  from tf_rnn_mnist.plumbing import native_logs
  from tf_rnn_mnist.errors import STOP_SIGNALS
  if sum(len(addresses) for addresses in cluster.values()) < 2 or task is None:
    yield
    return
  watcher = subprocess.Popen(
      [sys.executable, "-m", "tf_rnn_mnist.training.worker_wait",
       json.dumps({"cluster": cluster, "task": task, "seconds": seconds, "pid": os.getpid()})],
      stdin=subprocess.PIPE, stderr=native_logs.real_stderr())
  previous = {s: signal.signal(s, signal.SIG_DFL) for s in STOP_SIGNALS}
  try:
    yield
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)
    watcher.stdin.close()
    watcher.wait()


def watch(cluster, task, seconds, pid, say=lambda text: print(text, file=sys.stderr,
                                                               flush=True)):
  """The watcher: reports until stdin closes; after `seconds`, the error and SIGKILL to `pid`."""
  start = time.monotonic()
  next_report = start + 1.0
  while True:
    if select.select([sys.stdin], [], [], 0.5)[0] and not sys.stdin.buffer.read1(1):
      return  # the strategy is built, or the run ended
    now = time.monotonic()
    if now - start >= seconds:
      say(f"error: --strategy=multi_worker: {', '.join(missing(cluster, task)) or 'a worker'} "
          f"did not join within {seconds:g} s (--worker_timeout). Start every worker of "
          "TF_CONFIG's cluster, with the same cluster and its own task index.")
      os.kill(pid, signal.SIGKILL)
      return
    if now >= next_report:
      absent = missing(cluster, task)
      if absent:
        say(f"Waiting for {', '.join(absent)} to start ({now - start:.0f} s of {seconds:g} s, "
            "--worker_timeout; Ctrl-C ends the wait).")
      next_report = now + REPORT_EVERY


if __name__ == "__main__":
  watch(**json.loads(sys.argv[1]))
