"""The trainer's progress report: a tqdm bar on a terminal, one log line per logged step elsewhere.

tqdm redraws its bar with carriage returns several times a second; written to a file (``pyrovae train
> train.log 2>&1``, a sweep's run log, a batch job) that is megabytes of redraws. So the bar is shown
only when stderr is a terminal (or a notebook runs us), and otherwise each logged step becomes one
line on the ``pyrovae.train`` logger, which the CLI sends to stderr.
"""
import logging
import sys

from tqdm.auto import tqdm

logger = logging.getLogger(__name__)


def _interactive():
    return sys.stderr.isatty() or "ipykernel" in sys.modules


class Progress:
    """``update()`` each step, ``log(record)`` each logged step, ``total`` may change, ``close()``."""

    def __init__(self, total, initial=0, desc=None, enabled=True):
        self.desc, self.enabled = desc, enabled
        self.bar = tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True,
                        disable=not (enabled and _interactive()))

    @property
    def total(self):
        return self.bar.total

    @total.setter
    def total(self, value):
        self.bar.total = value

    def update(self, n=1):
        self.bar.update(n)

    def log(self, record):
        """Show the logged step's loss, reconstruction and KL."""
        if not self.bar.disable:
            self.bar.set_postfix(loss=f"{record['loss']:.2f}", recon=f"{record['recon']:.2f}",
                                 kl=f"{record['kl']:.2f}", refresh=False)
        elif self.enabled:
            logger.info("%s step %d/%d: loss %.2f, recon %.2f, kl %.2f", self.desc, record["step"], self.total,
                        record["loss"], record["recon"], record["kl"])

    def close(self):
        self.bar.close()
