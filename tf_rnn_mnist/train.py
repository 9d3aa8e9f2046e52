"""Train one of the tutorials' models in Keras 3, on its schedule, printing what the tutorial
printed, and report its test accuracy:

    python -m tf_rnn_mnist.train --variant=multilayer [--model_dir=DIR] [--export=M.keras]

With --model_dir it checkpoints as it goes, and the same command continues a stopped run
exactly. Any tf.distribute strategy (--strategy), on a CPU, GPUs or several machines.

(For code: `run(config, datasets_override, strategy_override)`; a run is resolved into a Plan
(plan.py), trained by a Trainer (trainer.py) following the tutorial's schedule (loop.py,
schedules.py) and logged as the tutorial logged (tutorial_log.py).)
"""

import contextlib
import dataclasses
import signal
import typing

from absl import flags
from absl import logging

from tf_rnn_mnist.plumbing import cli
from tf_rnn_mnist.plumbing import outputs
from tf_rnn_mnist.data import flags as data_flags
from tf_rnn_mnist.data.tutorial_splits import Datasets
from tf_rnn_mnist.errors import ConfigError, OutputError
from tf_rnn_mnist.training.plan import TrainConfig, check_config
from tf_rnn_mnist.plumbing.run_lock import RunLock

# run()'s interface: a TrainConfig, and a Datasets to train on instead of MNIST.
__all__ = ["Datasets", "TrainConfig", "run", "run_main"]


def run(config, datasets_override=None, strategy_override=None):
  """Trains `config.variant`, writes the outputs asked for, and returns the results dict.

  datasets_override: a Datasets to train and test on instead of MNIST (tests use tiny data).
  strategy_override: a tf.distribute.Strategy to use instead of --strategy.
  Under MultiWorkerMirroredStrategy every worker trains; only the chief writes the export and
  the results, and holds --model_dir's lock (checkpoints: see checkpoints.py).
  """
  variant = check_config(config)  # before TensorFlow loads: a bad flag answers at once
  outputs.check_train_outputs(config)
  return _run(config, variant, datasets_override, strategy_override)


def _run(config, variant, datasets_override=None, strategy_override=None):
  """run() once the config is checked and its variant resolved (check_config)."""
  from tf_rnn_mnist.training import distribute
  from tf_rnn_mnist.training.preemption import StopSignals
  strategy = strategy_override or distribute.make_strategy(config.strategy, config.tpu,
                                                           config.worker_timeout)
  chief = distribute.is_chief(strategy)
  with contextlib.ExitStack() as held:
    lock = (held.enter_context(RunLock(config.model_dir, "model_dir"))
            if config.model_dir and chief else None)
    if datasets_override is None:
      from tf_rnn_mnist.data import load_mnist
      data = variant.data_split.datasets(load_mnist(config.data_source, config.data_dir,
                                                    config.verify_digests, config.tfds_data_dir))
    else:
      data = datasets_override
    # Held until the outputs are written: a stop after the last update lets them be written.
    stop = held.enter_context(StopSignals(
        compiled_loops_break=not distribute.is_multi_worker(strategy)))
    trainer, results, progress = _train_within_memory(config, variant, data, strategy, stop,
                                                      lock)
    written = write_outputs(config, trainer.model, variant, results) if chief else []
    if progress.save_error:
      raise OutputError(f"{progress.save_error} Kept: " + "; ".join(
          [progress.kept()] + written) + ".")
    if stop.signum:
      # Nothing is left to do or resume: a supervisor must not run it again (status 0).
      cli.say(f"Stopped by {signal.Signals(stop.signum).name} after the last update: the run "
              "had finished, and its outputs were written (" + "; ".join(
                  [progress.kept()] + written) + "); exit status 0.")
  return results


def write_outputs(config, model, variant, results):
  """The export and the results JSON; if one cannot be written, the other still is, and the
  error says where the unwritten one was saved instead. Returns what was written where."""
  from tf_rnn_mnist.plumbing import results as results_io
  from tf_rnn_mnist.training.exports import export_model
  failures, written = [], []
  for what, asked, write in (
      ("the model", config.export, lambda: export_model(model, config.export, variant)),
      ("the results", config.results_json,
       lambda: results_io.write_json(config.results_json, results))):
    try:
      if asked:
        write()
        written.append(f"{what} in {asked}")
    except OutputError as e:
      failures.append(str(e))
  if failures:
    raise OutputError(" ".join(failures + ([f"Written: {'; '.join(written)}."] if written
                                           else [])))
  return written


# ---------------------------------------------------------------------------------------------
# Command line


# Logical CPU devices (--cpu_devices): replicas for a test of mirrored training, not speed.
MAX_CPU_DEVICES = 64

_DEFINE = {int: flags.DEFINE_integer, float: flags.DEFINE_float, str: flags.DEFINE_string,
           bool: flags.DEFINE_bool}


def define_flags():
  """The trainer's flags: one per TrainConfig field (its default and help are there), the data
  flags every tool shares, and --cpu_devices (it sets TensorFlow up before a run starts)."""
  for field in dataclasses.fields(TrainConfig):
    if "help" not in field.metadata:
      continue  # a data flag
    kind = next(t for t in typing.get_args(field.type) or (field.type,) if t is not type(None))
    if field.metadata["choices"]:
      flags.DEFINE_enum(field.name, field.default, list(field.metadata["choices"]),
                        field.metadata["help"])
    else:
      _DEFINE[kind](field.name, field.default, field.metadata["help"])
  data_flags.define_data_flags()
  flags.DEFINE_integer("cpu_devices", 1, "Split the CPU into N logical devices, so that "
                       "--strategy=mirrored runs N replicas without GPUs.")


def _train_within_memory(config, variant, data, strategy, stop, lock):
  """loop.train_model; out of memory (TensorFlow's allocator, or numpy's) is said in one line
  with the batch size and what to try, not as TensorFlow's page-long error."""
  import tensorflow as tf
  from tf_rnn_mnist.training import loop
  try:
    return loop.train_model(config, data, strategy, stop, lock, variant)
  except (tf.errors.ResourceExhaustedError, MemoryError) as e:
    said = (getattr(e, "message", None) or str(e) or type(e).__name__).strip().splitlines()[0]
    batch = config.batch_size or variant.batch_size
    raise ConfigError(f"Out of memory training {config.variant} with a batch of {batch} "
                      f"({said[:160]}). Try a smaller --batch_size (or --mixed_precision on a "
                      "GPU).") from None


def config_from_flags(flag_values=flags.FLAGS):
  fields = {f.name for f in dataclasses.fields(TrainConfig)}
  return TrainConfig(**{name: flag_values[name].value for name in fields})


def main(argv):
  config = config_from_flags()
  variant = check_config(config)  # once, here, before TensorFlow loads
  outputs.check_train_outputs(config)
  cpus = flags.FLAGS.cpu_devices
  if not 1 <= cpus <= MAX_CPU_DEVICES:
    raise ConfigError(f"--cpu_devices must be in 1..{MAX_CPU_DEVICES}, got {cpus}.")
  from tf_rnn_mnist.training import distribute  # TensorFlow: only once the flags hold
  distribute.split_cpu(flags.FLAGS.cpu_devices)
  results = _run(config, variant)
  cli.finished("the run had finished, and its outputs were written")
  if not results["updates_this_run"]:
    logging.info("%s: the run in --model_dir had finished; nothing was trained. Full test "
                 "accuracy %.4f, weights SHA-256 %s", results["variant"],
                 results["test_accuracy"], results["weights_sha256"])
    return
  logging.info("%s: %d steps in %.1f s (%.0f examples/s), full test accuracy %.4f, weights "
               "SHA-256 %s", results["variant"], results["steps"], results["train_seconds"],
               results["examples_per_second"], results["test_accuracy"],
               results["weights_sha256"])


def run_main():
  define_flags()
  cli.run_tool(main)


if __name__ == "__main__":
  run_main()
