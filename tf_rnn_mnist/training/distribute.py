"""Choosing the tf.distribute strategy the trainer runs under."""

import json
import os

import tensorflow as tf

from tf_rnn_mnist.training import worker_wait
from tf_rnn_mnist.errors import ConfigError
from tf_rnn_mnist.training.plan import STRATEGIES, WORKER_TIMEOUT


def split_cpu(num_devices):
  """Splits the host CPU into `num_devices` logical devices (must run before TF starts).

  Lets MirroredStrategy run several replicas on a machine without GPUs: for tests, and to try
  a multi-replica setup on a laptop.
  """
  if num_devices < 1:
    raise ConfigError(f"--cpu_devices must be at least 1, got {num_devices}.")
  if num_devices == 1:
    return
  cpu = tf.config.list_physical_devices("CPU")[0]
  try:
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)])
  except RuntimeError as e:
    raise ConfigError(f"--cpu_devices={num_devices}: TensorFlow is already initialised ({e}).")


def make_strategy(name, tpu="", worker_timeout=WORKER_TIMEOUT):
  """Returns the strategy called `name` (one of STRATEGIES)."""
  if name == "multi_worker":  # first: it must configure TensorFlow before anything lists devices
    return _multi_worker(worker_timeout)
  gpus = tf.config.list_logical_devices("GPU")
  if name == "auto":
    name = "mirrored" if len(gpus) > 1 else "one_device"
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "one_device":
    return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
  if name == "mirrored":
    devices = ([d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")])
    return tf.distribute.MirroredStrategy(devices)
  if name == "tpu":
    try:
      resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
      tf.config.experimental_connect_to_cluster(resolver)
      tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
      raise ConfigError(
          f"--strategy=tpu: no TPU found ({type(e).__name__}: {str(e).splitlines()[0]}). Run "
          "on a TPU VM, or pass --tpu=NAME_OR_ADDRESS; otherwise use --strategy=auto.") from None
    return tf.distribute.TPUStrategy(resolver)
  raise ConfigError(f"Unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}.")


def is_chief(strategy):
  """Whether this process writes the run's files: always, but under MultiWorkerMirroredStrategy
  only the chief (task "chief", or worker 0 when the cluster has no chief)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return True
  if resolver.task_type == "chief":
    return True
  return (resolver.task_type == "worker" and resolver.task_id == 0
          and "chief" not in resolver.cluster_spec().as_dict())


_TF_CONFIG_FORM = ('TF_CONFIG must be JSON of the form {"cluster": {"worker": ["host:port", '
                   '...]}, "task": {"type": "worker", "index": N}}')


def check_tf_config(text):
  """The cluster and this task, checked (returns the parsed TF_CONFIG): TensorFlow itself fails
  late and obscurely on a TF_CONFIG that is malformed, incomplete or names a task outside its
  cluster."""
  try:
    config = json.loads(text)
  except ValueError as e:
    raise ConfigError(f"--strategy=multi_worker: TF_CONFIG is not valid JSON ({e}). "
                      f"{_TF_CONFIG_FORM}.") from None
  cluster = config.get("cluster") if isinstance(config, dict) else None
  task = config.get("task") if isinstance(config, dict) else None
  if (not isinstance(cluster, dict) or not cluster or not isinstance(task, dict)
      or not all(isinstance(v, list) and all(isinstance(a, str) for a in v)
                 for v in cluster.values())):
    raise ConfigError(f"--strategy=multi_worker: TF_CONFIG lacks a cluster or a task, or its "
                      f"addresses are not lists of strings. {_TF_CONFIG_FORM}.")
  kind, index = task.get("type"), task.get("index")
  if kind not in cluster or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
    known = ", ".join(f"{k} 0..{len(v) - 1}" for k, v in cluster.items())
    raise ConfigError(f"--strategy=multi_worker: TF_CONFIG's task {kind!r} {index!r} is not in "
                      f"its cluster ({known}).")
  return config


def _multi_worker(worker_timeout):
  cluster, task = {}, None
  if "TF_CONFIG" in os.environ:
    config = check_tf_config(os.environ["TF_CONFIG"])
    cluster, task = config["cluster"], (config["task"]["type"], config["task"]["index"])
  try:
    with worker_wait.bounded_wait(cluster, task, worker_timeout):
      return tf.distribute.MultiWorkerMirroredStrategy()
  except RuntimeError as e:
    raise ConfigError(f"--strategy=multi_worker: {e}; create the strategy before other "
                      "TensorFlow work (run() does).") from None


def describe(strategy):
  name = type(strategy).__name__
  # tf.distribute.MultiWorkerMirroredStrategy is an alias of this class.
  name = {"CollectiveAllReduceStrategy": "MultiWorkerMirroredStrategy"}.get(name, name)
  return {"strategy": name, "replicas": strategy.num_replicas_in_sync,
          "devices": list(strategy.extended.worker_devices)}


def has_gpu(strategy=None):
  """Whether the strategy's devices (or, without one, this machine's) include a GPU."""
  if strategy is None:
    return bool(tf.config.list_physical_devices("GPU"))
  return any("GPU" in d.upper() for d in strategy.extended.worker_devices)


def check_mixed_precision(enabled, strategy=None):
  if enabled and not has_gpu(strategy):
    raise ConfigError("--mixed_precision needs a GPU: float16 is slower than float32 on CPUs.")


def check_divides_among_replicas(batch_size, strategy):
  replicas = strategy.num_replicas_in_sync
  if batch_size % replicas:
    raise ConfigError(
        f"--batch_size={batch_size} does not divide among {replicas} replicas; "
        f"use a multiple of {replicas} (it is the global batch).")


def is_multi_worker(strategy):
  """Whether the strategy spans several processes (which must then act in step)."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not resolver.task_type:
    return False
  return sum(len(tasks) for tasks in resolver.cluster_spec().as_dict().values()) > 1
