"""The tutorials' schedules follow --batch_size and --epochs as the tutorials' own loops would."""

import tensorflow as tf

from tf_rnn_mnist import train
from tf_rnn_mnist.training.plan import TrainConfig, plan_run
from tf_rnn_mnist.schedules import ExampleBudget
from tf_rnn_mnist.variants import VARIANTS
from test_train import tiny_datasets

ONE_DEVICE = tf.distribute.OneDeviceStrategy("/cpu:0")


def plan(variant, num_train, **overrides):
  return plan_run(TrainConfig(variant=variant, **overrides), num_train=num_train)


def test_basic_lstm_epochs_are_num_examples_over_the_batch():
  # n_batch = mnist.train.num_examples // batch_size; 6 epochs; a test evaluation per epoch.
  p = plan("basic_lstm", 55000)
  assert (p.train_steps, p.eval_every) == (6 * 1100, 1100)
  p = plan("basic_lstm", 55000, batch_size=100)
  assert (p.train_steps, p.eval_every) == (6 * 550, 550)
  p = plan("basic_lstm", 55000, batch_size=64)
  assert (p.train_steps, p.eval_every) == (6 * 859, 859)  # 55000 // 64, the rest dropped
  assert [u for u in range(1, p.train_steps + 1) if p.counter.fires(p.eval_every, u)] == [
      859, 1718, 2577, 3436, 4295, 5154]
  assert plan("basic_lstm", 55000, batch_size=64, eval_every=100).eval_every == 100


def test_static_variants_run_while_step_times_batch_is_under_100000():
  for batch, steps in ((128, 781), (100, 999), (64, 1562), (1000, 99), (50000, 1)):
    # step = 1; while step * batch < 100000: the steps s >= 1 with s * batch < 100000.
    assert steps == sum(1 for s in range(1, 100001) if s * batch < 100000)
    for name in [n for n, v in VARIANTS.items() if isinstance(v.schedule, ExampleBudget)]:
      assert plan(name, 55000, batch_size=batch).train_steps == steps
  # Its minibatch lines at step % 10 == 0, step counting from 1.
  p = plan("static_lstm", 55000, batch_size=100)
  assert [u for u in range(1, 31) if p.counter.fires(10, u)] == [10, 20, 30]


def test_multilayer_runs_2001_steps_whatever_the_batch():
  # for step in range(2000 + 1), with next_batch(100) a literal: the batch does not change it.
  assert plan("multilayer", 55000, batch_size=50).train_steps == 2001
  assert plan("multilayer", 55000, batch_size=50, epochs=1).train_steps == 1100


def test_torch_epochs_keep_the_partial_batch_and_the_step_counter_restarts():
  assert plan("torch_lstm", 60000).train_steps == 938  # 937 x 64 + 32
  assert plan("torch_lstm", 60000, batch_size=100).train_steps == 600
  p = plan("torch_lstm", 60000, epochs=2)
  assert p.train_steps == 1876
  # `for step, (x, y) in enumerate(train_loader)`: step % 50 == 0 restarts every epoch.
  fired = [u for u in range(1, p.train_steps + 1) if p.counter.fires(50, u)]
  assert fired[:2] == [1, 51] and fired[18:21] == [901, 939, 989] and len(fired) == 38
  assert (p.counter.step(939), p.counter.epoch(939), p.counter.epoch(938)) == (0, 1, 0)


def test_torch_log_lines_restart_their_counter_each_epoch(capsys):
  # 256 examples in batches of 100: 3 steps an epoch (the last of 56). The tutorial's line at
  # step % 50 == 0 comes at step 0 of each epoch (updates 1 and 4; a counter that ran on would
  # print once); evaluating every 2 tutorial steps fires at steps 0 and 2 of each epoch: updates
  # 1, 3, 4, 6 -- not 1, 3, 5.
  results = train.run(train.TrainConfig(variant="torch_lstm", epochs=2, batch_size=100,
                                        eval_every=2, seed=1, progress=False),
                      datasets_override=tiny_datasets(), strategy_override=ONE_DEVICE)
  lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("Epoch:")]
  assert [l[:9] for l in lines] == ["Epoch:  0", "Epoch:  1"]
  assert [h["step"] for h in results["history"] if "train_loss" in h] == [1, 4]
  assert [h["step"] for h in results["history"] if "test_accuracy" in h] == [1, 3, 4, 6]


def test_basic_lstm_log_lines_follow_the_batch(capsys):
  # 256 examples in batches of 64: 4 steps an epoch, 6 epochs, a test line after each.
  results = train.run(train.TrainConfig(variant="basic_lstm", batch_size=64, seed=1,
                                        progress=False),
                      datasets_override=tiny_datasets(), strategy_override=ONE_DEVICE)
  lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("Iter")]
  assert [l.split(",")[0] for l in lines] == [f"Iter {e}" for e in range(6)]
  assert results["steps"] == 24
  assert [h["step"] for h in results["history"] if "test_accuracy" in h] == [4, 8, 12, 16, 20, 24]
