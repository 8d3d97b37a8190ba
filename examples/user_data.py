"""Train on your own data: save images (and optional labels) in a .npz and pass its path as the dataset.

Accepted: ``.npz`` with ``images`` (or ``imgs``/``x``) and optional ``labels``/``factors``; ``.npy``; or a
folder of PNGs with an optional ``labels.npy``/``factors.csv``. uint8 images are scaled to [0, 1];
[N, H, W], [N, H, W, C] and [N, C, H, W] are all accepted. See pyrovae/data/files.py.

    python examples/user_data.py               # about 10 s on a CPU
    # the same from the command line:
    #   pyrovae train --dataset my_data.npz --likelihood continuous-bernoulli --steps 300 --no-evaluate
"""
import tempfile
from pathlib import Path

import numpy as np

from pyrovae.train import fit


def make_npz(path, n=512, size=12, seed=0):
    """Bars: a bright horizontal or vertical bar at a random position on a dark, noisy background."""
    rs = np.random.RandomState(seed)
    orientation, position = rs.randint(2, size=n), rs.randint(size, size=n)
    images = (rs.rand(n, size, size, 1) * 40).astype(np.uint8)  # channels last, uint8 0..255
    for i in range(n):
        if orientation[i]:
            images[i, :, position[i]] = 230
        else:
            images[i, position[i], :] = 230
    np.savez(path, images=images, labels=np.stack([orientation, position], 1))
    return path


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        data = make_npz(Path(tmp) / "bars.npz")
        run = fit({"objective": "beta-vae", "dataset": str(data), "likelihood": "continuous-bernoulli",
                   "latent_dim": 4, "steps": 300, "batch_size": 64, "lr": 1e-3, "device": "cpu",
                   "plots": False, "evaluate": False, "out": str(Path(tmp) / "run")}, progress=False)
        print(f"trained on {len(run.dataset)} images of shape {run.dataset.observation_shape} "
              f"with factors {run.dataset.factor_names} of sizes {run.dataset.factor_sizes}")
        print("last log line:", (run.run_dir / "log.jsonl").read_text().splitlines()[-1][:120])
