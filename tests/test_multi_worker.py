"""--strategy=multi_worker: two worker processes on 127.0.0.1, against one process."""

import json
import os
import re
import signal
import socket
import subprocess
import sys

from conftest import assert_same_adam_steps
from test_resume import checkpoint_tensors


def _free_ports(n):
  sockets = [socket.socket() for _ in range(n)]
  for s in sockets:
    s.bind(("127.0.0.1", 0))
  ports = [s.getsockname()[1] for s in sockets]
  for s in sockets:
    s.close()
  return ports


def _command(small_idx_dir, tmp_path, strategy, name):
  return [sys.executable, "-m", "tf_rnn_mnist.train", f"--strategy={strategy}",
          "--variant=basic_lstm", "--data_source=idx", f"--data_dir={small_idx_dir}",
          "--noverify_digests", "--noprogress", "--train_steps=12", "--batch_size=16",
          "--eval_every=5", "--checkpoint_every=5", f"--model_dir={tmp_path / name}",
          f"--results_json={tmp_path / name}.json", f"--export={tmp_path / name}.keras"]


def _weights_digest(stderr):
  return re.search(r"weights SHA-256 ([0-9a-f]{64})", stderr).group(1)


def test_two_workers_match_each_other_and_one_process(small_idx_dir, tmp_path):
  workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
  jobs = []
  for index in range(2):
    env = dict(os.environ, TF_CONFIG=json.dumps(
        {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}))
    jobs.append(subprocess.Popen(_command(small_idx_dir, tmp_path, "multi_worker", "cluster"),
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True))
  outputs = [job.communicate(timeout=400) for job in jobs]
  for job, (_, stderr) in zip(jobs, outputs):
    assert job.returncode == 0, stderr[-3000:]
  single = subprocess.run(_command(small_idx_dir, tmp_path, "one_device", "single"),
                          capture_output=True, text=True, timeout=300)
  assert single.returncode == 0, single.stderr[-3000:]

  # Both workers end with bit-identical weights.
  assert _weights_digest(outputs[0][1]) == _weights_digest(outputs[1][1])
  # Only the chief (worker 0) wrote the files; the other worker's checkpoints were temporary.
  assert outputs[0][0].splitlines()[-1].startswith("Full test accuracy (40 images): ")
  assert outputs[1][0] == ""
  cluster = json.loads((tmp_path / "cluster.json").read_text())
  assert (cluster["strategy"], cluster["replicas"]) == ("MultiWorkerMirroredStrategy", 2)
  assert (tmp_path / "cluster.keras").is_file()
  # (.run.lock: the chief's lock on the run directory, kept: deleting a lock file races.)
  assert sorted(os.listdir(tmp_path / "cluster")) == [".run.lock", "checkpoints", "tensorboard"]
  assert sorted(os.listdir(tmp_path / "cluster" / "checkpoints")) == [
      "checkpoint"] + [f"ckpt-{s}.{ext}" for s in (10, 12, 5) for ext in
                       ("data-00000-of-00001", "index")]
  # The same global batch on one process: the same weights and Adam moments to 1e-5.
  a, b = checkpoint_tensors(tmp_path / "cluster", 12), checkpoint_tensors(tmp_path / "single", 12)
  assert a.keys() == b.keys()
  for name in a:
    assert_same_adam_steps("basic_lstm", a[name], b[name])
  reference = json.loads((tmp_path / "single.json").read_text())
  assert [h["step"] for h in cluster["history"]] == [h["step"] for h in reference["history"]]
  assert cluster["test_accuracy"] == reference["test_accuracy"]


def test_sigterm_to_one_worker_stops_every_worker_at_the_same_update(small_idx_dir, tmp_path):
  """Preemption of one worker (its SIGTERM) stops both at one agreed update, with the chief's
  checkpoint; neither hangs in a collective waiting for the other."""
  workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
  command = [sys.executable, "-m", "tf_rnn_mnist.train", "--strategy=multi_worker",
             "--variant=static_gru", "--data_source=idx", f"--data_dir={small_idx_dir}",
             "--noverify_digests", "--noprogress", "--train_steps=100000", "--batch_size=20",
             f"--model_dir={tmp_path / 'run'}"]
  jobs = [subprocess.Popen(command, env=dict(os.environ, TF_CONFIG=json.dumps(
      {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})),
      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for index in range(2)]
  for line in jobs[0].stdout:  # the chief logs; then both are inside the training loop
    if line.startswith("Iter "):
      break
  jobs[1].send_signal(signal.SIGTERM)
  outputs = [job.communicate(timeout=300) for job in jobs]
  stops = [re.search(r"Stopped by SIGTERM after update (\d+) of 100000\.", err)
           for _, err in outputs]
  assert [job.returncode for job in jobs] == [143, 143], outputs[0][1][-2000:]
  assert all(stops) and stops[0].group(1) == stops[1].group(1)
  assert f"Checkpoint {tmp_path / 'run'}/checkpoints/ckpt-{stops[0].group(1)}" in outputs[0][1]
