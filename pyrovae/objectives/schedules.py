"""Schedules ``step -> value`` for annealing a weight during training.

A schedule is a small callable object (picklable, with a readable ``repr``). They plug in two ways,
both reading :attr:`Objective.step`, which the trainer sets before every step:

- as a **warm-up of any objective**: ``make_objective(name, kl_warmup_steps=S)`` (or the CLI's
  ``--kl-warmup-steps S``) ramps every term but the reconstruction linearly from 0 to full weight over
  ``S`` steps — ``loss = recon + w(step)·(loss − recon)``; any other schedule goes in through the
  constructor, e.g. ``BetaTCVAE(warmup=cyclical(period=10_000))``
  (see :meth:`pyrovae.objectives.base.Objective.warmup_weight`);
- as an **annealed hyperparameter** where an objective accepts one: ``BetaVAE(beta=linear(0, 4, 10_000))``.

References: KL annealing, Bowman, S. R. et al. (2016). Generating Sentences from a Continuous Space.
CoNLL. Cyclical annealing, Fu, H. et al. (2019). Cyclical Annealing Schedule: A Simple Approach to
Mitigating KL Vanishing. NAACL.
"""
from ..errors import PyroVAEError
from ..validation import check_int, check_number

__all__ = ["Constant", "Linear", "Cyclical", "constant", "linear", "cyclical"]


class Constant:
    """``value`` at every step."""

    def __init__(self, value):
        self.value = check_number("schedule value", value)

    def __call__(self, step):
        return self.value

    def __repr__(self):
        return f"constant({self.value:g})"


class Linear:
    """``start`` until ``delay``, then linear to ``end`` over ``steps`` steps, then ``end``:

    .. math:: v(t) = v_0 + (v_1 - v_0)\\,\\min\\bigl(1, \\max(0, t - t_0) / S\\bigr).
    """

    def __init__(self, start, end, steps, delay=0):
        self.start = check_number("start", start)
        self.end = check_number("end", end)
        self.steps = check_int("steps", steps, minimum=0)
        self.delay = check_int("delay", delay, minimum=0)

    def __call__(self, step):
        t = step - self.delay
        if t <= 0:
            return self.start
        if self.steps == 0 or t >= self.steps:
            return self.end
        return self.start + (self.end - self.start) * t / self.steps

    def __repr__(self):
        return f"linear({self.start:g}, {self.end:g}, steps={self.steps}, delay={self.delay})"


class Cyclical:
    """Cyclical annealing (Fu et al. 2019): the schedule restarts every ``period`` steps; within a cycle
    it rises linearly from ``start`` to ``end`` over the first ``ratio`` of the period and then stays
    at ``end``. After ``cycles`` cycles (if given) it stays at ``end``."""

    def __init__(self, period, start=0.0, end=1.0, ratio=0.5, cycles=None):
        self.period = check_int("period", period)
        self.start = check_number("start", start)
        self.end = check_number("end", end)
        self.ratio = check_number("ratio", ratio, minimum=0, exclusive=True)
        if self.ratio > 1:
            raise PyroVAEError(f"ratio must be in (0, 1], got {ratio!r}")
        self.cycles = None if cycles is None else check_int("cycles", cycles)

    def __call__(self, step):
        if step < 0:
            return self.start
        if self.cycles is not None and step >= self.cycles * self.period:
            return self.end
        phase = (step % self.period) / (self.period * self.ratio)
        return self.start + (self.end - self.start) * min(1.0, phase)

    def __repr__(self):
        return (f"cyclical(period={self.period}, start={self.start:g}, end={self.end:g}, "
                f"ratio={self.ratio:g}, cycles={self.cycles})")


def constant(value):
    return Constant(value)


def linear(start, end, steps, delay=0):
    return Linear(start, end, steps, delay)


def cyclical(period, start=0.0, end=1.0, ratio=0.5, cycles=None):
    return Cyclical(period, start, end, ratio, cycles)
