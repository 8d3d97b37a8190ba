"""A sweep plugin for the tests: the objective ``crash-test`` fails on purpose.

mode ``always`` raises at step 3 of every attempt; ``once`` raises on the first attempt only (a marker
file in $PYROVAE_CRASH_DIR remembers it); ``exit`` kills its worker process (os._exit) at step 3.
"""
import os
from pathlib import Path

from pyrovae.objectives import OBJECTIVES, register
from pyrovae.objectives.beta_vae import BetaVAE

if "crash-test" not in OBJECTIVES:
    @register("crash-test")
    class CrashTest(BetaVAE):
        hyperparameters = {**BetaVAE.hyperparameters, "mode": ("always", "always, once or exit")}

        def __init__(self, mode="always", **kwargs):
            super().__init__(**kwargs)
            self.mode = mode

        def after_step(self):
            if self.step < 3:
                return
            if self.mode == "exit":
                os._exit(3)
            if self.mode == "once":
                marker = Path(os.environ["PYROVAE_CRASH_DIR"]) / "crashed-once"
                if marker.exists():
                    return
                marker.touch()
            raise RuntimeError(f"boom at step {self.step} ({self.mode})")
