"""The tutorials' training schedules, in their own terms, so that overrides change them as the
tutorials' own code would.

Each tutorial wrote its schedule as a loop; the loop decides how many updates run for a batch size
and a training-set size, and what the tutorial's step counter reads at each update. Written as
numbers (6 x 1100, 781, 938) they would silently stop following `--batch_size`. (How many
batches an epoch holds is the data split's to say: data/tutorial_splits.py.)
- basic_lstm: `n_batch = num_examples // batch_size; for epoch in range(6): for batch in
  range(n_batch)`, with a test evaluation after each epoch;
- multilayer: `for step in range(2000 + 1)` (its batch is a literal in next_batch(100));
- static_*: `step = 1; while step * batch_size < 100000: ...; step += 1`;
- torch_lstm: `for epoch in range(EPOCH): for step, (x, y) in enumerate(train_loader)`: the
  DataLoader keeps the last partial batch and `step` restarts at 0 every epoch.
"""

import dataclasses


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Loop:
  """What every schedule says about its step counter and epochs."""
  counter_start: int = 0  # the tutorial's step number at the first update
  counter_restarts_each_epoch: bool = False  # torch's `enumerate(train_loader)`
  evaluate_each_epoch: bool = False  # basic_lstm: the test set after every epoch


@dataclasses.dataclass(frozen=True)
class Epochs(_Loop):
  """`for epoch in range(epochs): for step in range(steps_per_epoch)`."""
  epochs: int

  def train_steps(self, batch_size, steps_per_epoch):
    return self.epochs * steps_per_epoch


@dataclasses.dataclass(frozen=True)
class FixedSteps(_Loop):
  """`for step in range(steps)`: the same number of updates whatever the batch."""
  steps: int

  def train_steps(self, batch_size, steps_per_epoch):
    return self.steps


@dataclasses.dataclass(frozen=True)
class ExampleBudget(_Loop):
  """`step = 1; while step * batch_size < examples: ...; step += 1` (give counter_start=1)."""
  examples: int

  def train_steps(self, batch_size, steps_per_epoch):
    # The steps s >= 1 with s * batch_size < examples.
    return (self.examples - 1) // batch_size


@dataclasses.dataclass(frozen=True)
class Counter:
  """The tutorial's step counter and epoch at each update (updates count from 1)."""
  schedule: object
  steps_per_epoch: int

  def step(self, update):
    """What the tutorial's own step variable read during `update`."""
    if self.schedule.counter_restarts_each_epoch:
      return (update - 1) % self.steps_per_epoch
    return update - 1 + self.schedule.counter_start

  def epoch(self, update):
    return (update - 1) // self.steps_per_epoch

  def fires(self, every, update):
    """Whether a cadence `if step % every == 0` fires at `update` (never for None)."""
    return every is not None and self.step(update) % every == 0


@dataclasses.dataclass(frozen=True)
class After:
  """What happens after one update."""
  log_train: bool  # measure the batch's loss and accuracy, as the tutorial printed them
  evaluate: bool  # the tutorial's test evaluation
  checkpoint: bool

  def __bool__(self):
    return self.log_train or self.evaluate or self.checkpoint


@dataclasses.dataclass(frozen=True)
class Timetable:
  """When the run stops to log, evaluate and checkpoint: the one place that decides it.

  The tutorial's cadences fire on its step counter (`if step % every == 0`); checkpoints every
  `checkpoint_every` updates. None disables a cadence.
  """
  counter: Counter
  train_log_every: int | None
  eval_every: int | None
  checkpoint_every: int | None = None

  def after(self, update):
    return After(log_train=self.counter.fires(self.train_log_every, update),
                 evaluate=self.counter.fires(self.eval_every, update),
                 checkpoint=bool(self.checkpoint_every) and update % self.checkpoint_every == 0)

  def next_stop(self, done, limit):
    """The first update in (done, limit] after which something happens, else limit."""
    return next((u for u in range(done + 1, limit + 1) if self.after(u)), limit)
