"""Atomic, safely loaded checkpoints: plain ``state_dict``s, optimiser state, step and RNG states.

Written to a temporary file, flushed to disk and renamed over the old one, so a run killed at any
moment leaves the previous checkpoint intact. Read with ``torch.load(weights_only=True)``: a
checkpoint can hold tensors and plain containers only, never code.
"""
from pathlib import Path

import torch

from ..atomic import atomic_write
from ..errors import PyroVAEError


def save_checkpoint(path, state):
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def load_checkpoint(path, map_location="cpu"):
    path = Path(path)
    if not path.is_file():
        raise PyroVAEError(f"checkpoint {path} does not exist: check the run dir, or train without --resume")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # torch raises many kinds for a truncated or foreign file
        raise PyroVAEError(f"checkpoint {path} is corrupt or not a pyrovae checkpoint "
                           f"({type(e).__name__}): delete it to start over") from None


def rng_state():
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state):
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
