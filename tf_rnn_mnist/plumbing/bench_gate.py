"""Alternating benchmark windows across processes (bench.py).

Every side of a benchmark (this trainer, the TF1 graph, PyTorch, model.fit) runs in its own
process and trains only while the benchmark lets it: a WindowGate in the side waits for `go` on
stdin before each window of updates (or `profile DIR`: the window under TensorFlow's profiler,
for profile.py), and reports the window's seconds on stdout. The benchmark
opens one side's window at a time, A B C A B C ..., so that a burst of load on a shared machine
falls on every side alike, and each round's ratios compare windows minutes apart at most.

Only the updates count: each side times its own steps (sess.run of the train op, one compiled
loop call, one fit batch, one PyTorch step) and the gate adds them up, so a side's periodic
evaluation or logging between steps is not counted against it.
"""

import subprocess
import sys
import tempfile
import time

PREFIX = "@@bench"
# The profiler's name for a timed update (profile.py keeps only the ops inside these).
UPDATE_TRACE = "bench_update"


class WindowGate:
  """The side's end: `step(seconds)` after each timed update; blocks at each window's start.

  A window opened with `profile DIR` instead of `go` runs under TensorFlow's profiler, its trace
  written to DIR, each update marked by an UPDATE_TRACE event (profile.py)."""

  def __init__(self, window, stdin=None, stdout=None):
    self.window, self.count, self.seconds = window, 0, 0.0
    self.stdin, self.stdout = stdin or sys.stdin, stdout or sys.stdout
    self.started = time.perf_counter()
    self.waited = False
    self.profiling = self.update_trace = None

  def _say(self, *words):
    print(PREFIX, *words, file=self.stdout, flush=True)

  def before_step(self):
    if self.count == 0:
      if not self.waited:  # the first update is next: what a user waits for
        self._say("ready", repr(time.perf_counter() - self.started))
        self.waited = True
      line = self.stdin.readline()
      if not line:  # the benchmark closed the pipe: done
        sys.exit(0)
      command, _, logdir = line.rstrip("\n").partition(" ")
      if command == "profile" and logdir:
        import tensorflow as tf  # only a TensorFlow side is ever asked to profile
        tf.profiler.experimental.start(logdir)
        self.profiling = tf.profiler.experimental
      elif command != "go":
        print(f"bench_gate: {line.strip()!r} is not a window command (go, or profile DIR)",
              file=sys.stderr, flush=True)
        sys.exit(2)
    if self.profiling:
      self.update_trace = self.profiling.Trace(UPDATE_TRACE)
      self.update_trace.__enter__()

  def step(self, seconds):
    if self.update_trace:
      self.update_trace.__exit__(None, None, None)
      self.update_trace = None
    self.count += 1
    self.seconds += seconds
    if self.count == self.window:
      if self.profiling:
        self.profiling.stop()
        self.profiling = None
      self._say("window", repr(self.seconds))
      self.count, self.seconds = 0, 0.0


def timed(gate, fn, *args, **kwargs):
  """fn(*args, **kwargs) as one gated update."""
  gate.before_step()
  tic = time.perf_counter()
  value = fn(*args, **kwargs)
  gate.step(time.perf_counter() - tic)
  return value


class Side:
  """The benchmark's end: one side's process, its windows' seconds on demand."""

  def __init__(self, name, command, children=None):
    """children: a list the process is added to as soon as it starts (signals reach it from
    there: cli.forwarding_signals)."""
    self.name, self.command = name, command
    self.spawned = time.perf_counter()
    self.errors = tempfile.TemporaryFile(mode="w+")  # a pipe would fill with TF's logs
    # Its own session: a Ctrl-C in the terminal reaches it once, forwarded by the benchmark.
    self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=self.errors, text=True, bufsize=1,
                                    start_new_session=True)
    if children is not None:
      children.append(self.process)
    self._expect("ready")
    self.to_ready = time.perf_counter() - self.spawned  # interpreter, imports, data, graph
    self.to_first_window = None  # + the first window: tracing and its updates

  def _expect(self, word):
    for line in self.process.stdout:
      parts = line.split()
      if parts[:2] == [PREFIX, word]:
        return parts[2:]
    self.process.wait()
    self.errors.seek(0)
    error = [l for l in self.errors.read().splitlines() if l.strip()][-1:]
    raise RuntimeError(f"{self.name} ended before its window (exit {self.process.returncode}): "
                       f"{error[0] if error else 'no output'}")

  def window(self, profile_dir=None):
    """Runs one window; its seconds (the sum of its updates' times). profile_dir: under
    TensorFlow's profiler, the trace written there."""
    if profile_dir and "\n" in profile_dir:  # the protocol is one line per window
      raise ValueError(f"a profile directory cannot hold a newline: {profile_dir!r}")
    tic = time.perf_counter()
    self.process.stdin.write(f"profile {profile_dir}\n" if profile_dir else "go\n")
    self.process.stdin.flush()
    seconds = float(self._expect("window")[0])
    if self.to_first_window is None:
      self.to_first_window = self.to_ready + time.perf_counter() - tic
    return seconds

  def close(self):
    if self.process.poll() is None:
      try:
        self.process.stdin.close()
      except BrokenPipeError:  # it ended already (a forwarded signal)
        pass
      try:
        self.process.wait(timeout=30)
      except subprocess.TimeoutExpired:
        self.process.kill()
        self.process.wait()
    self.errors.close()
