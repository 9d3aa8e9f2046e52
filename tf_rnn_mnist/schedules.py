"""The seeds' training schedules, in their own terms, so that overrides change them as the
seeds' own code would.

Each seed wrote its schedule as a loop; the loop decides how many updates run for a batch size
and a training-set size, and what the seed's step counter reads at each update. Written as
numbers (6 x 1100, 781, 938) they would silently stop following `--batch_size`:
- basic_lstm: `n_batch = num_examples // batch_size; for epoch in range(6): for batch in
  range(n_batch)`, with a test evaluation after each epoch;
- multilayer: `for step in range(2000 + 1)` (its batch is a literal in next_batch(100));
- static_*: `step = 1; while step * batch_size < 100000: ...; step += 1`;
- torch_lstm: `for epoch in range(EPOCH): for step, (x, y) in enumerate(train_loader)`: the
  DataLoader keeps the last partial batch and `step` restarts at 0 every epoch.
"""

import dataclasses


def steps_per_epoch(batch_size, num_train, keep_partial_batch):
  """Batches per epoch: TF1's `num_examples // batch_size`, or a DataLoader's, which keeps the
  last partial batch."""
  if keep_partial_batch:
    return -(-num_train // batch_size)
  return num_train // batch_size


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Loop:
  """What every schedule says about its step counter and epochs."""
  counter_start: int = 0  # the seed's step number at the first update
  keep_partial_batch: bool = False  # torch's DataLoader keeps the last partial batch
  counter_restarts_each_epoch: bool = False  # torch's `enumerate(train_loader)`
  evaluate_each_epoch: bool = False  # basic_lstm: the test set after every epoch


@dataclasses.dataclass(frozen=True)
class Epochs(_Loop):
  """`for epoch in range(epochs): for step in range(steps_per_epoch)`."""
  epochs: int

  def train_steps(self, batch_size, num_train):
    return self.epochs * steps_per_epoch(batch_size, num_train, self.keep_partial_batch)



@dataclasses.dataclass(frozen=True)
class FixedSteps(_Loop):
  """`for step in range(steps)`: the same number of updates whatever the batch."""
  steps: int

  def train_steps(self, batch_size, num_train):
    return self.steps



@dataclasses.dataclass(frozen=True)
class ExampleBudget(_Loop):
  """`step = 1; while step * batch_size < examples: ...; step += 1` (give counter_start=1)."""
  examples: int

  def train_steps(self, batch_size, num_train):
    # The steps s >= 1 with s * batch_size < examples.
    return (self.examples - 1) // batch_size



@dataclasses.dataclass(frozen=True)
class Counter:
  """The seed's step counter and epoch at each update (updates count from 1)."""
  schedule: object
  steps_per_epoch: int

  def step(self, update):
    """What the seed's own step variable read during `update`."""
    if self.schedule.counter_restarts_each_epoch:
      return (update - 1) % self.steps_per_epoch
    return update - 1 + self.schedule.counter_start

  def epoch(self, update):
    return (update - 1) // self.steps_per_epoch

  def fires(self, every, update):
    """Whether a cadence `if step % every == 0` fires at `update` (never for None)."""
    return every is not None and self.step(update) % every == 0
