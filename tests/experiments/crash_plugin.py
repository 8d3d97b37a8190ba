"""A sweep plugin for the tests: the objective ``crash-test`` fails on purpose.

mode ``always`` raises at step 3 of every attempt; ``once`` raises on the first attempt only (a marker
file in $PYROVAE_CRASH_DIR remembers it); ``exit`` kills its worker process (os._exit) at step 3;
``hang`` stops at step 3 of its first attempt, its pid in $PYROVAE_CRASH_DIR/hanging, until the test
kills its worker process (after 60 s it fails instead, so that a test never waits forever).
"""
import os
import time
from pathlib import Path

from pyrovae.objectives import OBJECTIVES, register
from pyrovae.objectives.beta_vae import BetaVAE

if "crash-test" not in OBJECTIVES:
    @register("crash-test")
    class CrashTest(BetaVAE):
        hyperparameters = {**BetaVAE.hyperparameters, "mode": ("always", "always, once, exit or hang")}

        def __init__(self, mode="always", **kwargs):
            super().__init__(**kwargs)
            self.mode = mode

        def after_step(self):
            if self.step < 3:
                return
            if self.mode == "exit":
                os._exit(3)
            if self.mode == "hang":
                marker = Path(os.environ["PYROVAE_CRASH_DIR"]) / "hanging"
                if marker.exists():
                    return
                marker.write_text(str(os.getpid()))
                time.sleep(60)
                raise RuntimeError("hang: the test did not kill this worker within 60 s")
            if self.mode == "once":
                marker = Path(os.environ["PYROVAE_CRASH_DIR"]) / "crashed-once"
                if marker.exists():
                    return
                marker.touch()
            raise RuntimeError(f"boom at step {self.step} ({self.mode})")
