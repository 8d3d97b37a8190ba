"""A custom prior in a few lines: register it by name and train with it.

A prior is an ``nn.Module`` whose ``forward()`` returns a distribution over z with event shape
``(latent_dim,)``; it needs ``latent_dim`` and ``factorized`` (True only for N(0, I)). Parameters of the
module train with the model; the KL term is Monte Carlo automatically when no analytic KL exists.

    python examples/custom_prior.py            # about 10 s on a CPU
"""
import pyro.distributions as dist
import torch
from torch import nn

from pyrovae.models import PRIORS


class LogisticPrior(nn.Module):
    """p(z) = Π_d Logistic(z_d; μ_d, s_d), location and scale learned with the model."""
    factorized = False

    def __init__(self, latent_dim):
        super().__init__()
        self.latent_dim = latent_dim
        self.loc, self.log_scale = nn.Parameter(torch.zeros(latent_dim)), nn.Parameter(torch.zeros(latent_dim))

    def forward(self):
        return dist.Logistic(self.loc, self.log_scale.exp()).to_event(1)


PRIORS["logistic"] = lambda latent_dim, **_: LogisticPrior(latent_dim)  # constructor(latent_dim, guide=, data_shape=)

if __name__ == "__main__":
    import tempfile

    from pyrovae.train import fit

    with tempfile.TemporaryDirectory() as out:
        run = fit({"objective": "vae", "dataset": "digits", "prior": "logistic", "likelihood": "continuous-bernoulli",
                   "latent_dim": 4, "steps": 300, "batch_size": 64, "lr": 1e-3, "device": "cpu",
                   "plots": False, "evaluate": False, "out": out, "log_every": 100}, progress=False)
        log = (run.run_dir / "log.jsonl").read_text().splitlines()
        print("first and last logged losses:", log[0][:80], "...", log[-1][:80], sep="\n")
        print("learned prior location:", run.model.prior.loc.detach().numpy().round(2))
