r"""InfoGAN (Chen et al. 2016): a GAN whose generator G(z, c) takes, besides the noise z, structured codes
c, and an auxiliary network Q(c | x) that keeps c recoverable from G(z, c).

The objective (Chen et al. 2016, eq. 5–6) is the GAN minimax game with a variational lower bound on the
mutual information between the codes and the generated data:

.. math::

    \min_{G, Q} \max_D \; V(D, G) - \lambda\, L_I(G, Q), \qquad
    L_I(G, Q) = \mathbb{E}_{c \sim p(c),\, x \sim G(z, c)}[\log Q(c \mid x)] + H(c)
      \;\le\; I(c; G(z, c)).

Codes here: ``num_continuous`` continuous codes c_j ~ U(−1, 1), with Q(c_j | x) a factored Gaussian
(learned mean and log standard deviation), and categorical codes of the sizes in ``categorical``, each
uniform, given to G one-hot, with Q a softmax. Noise z ~ N(0, I) of ``noise_dim`` dimensions. Q shares
every layer of D but its last (the paper's choice: Q costs one head more than the GAN).

Networks (``arch="auto"``: conv for 64×64 images, MLP otherwise):

* conv: D's body is the standard encoder of the disentanglement literature (four 4×4 stride-2
  convolutions with 32, 32, 64, 64 channels, FC 256) with leaky ReLU (0.2); G is its transpose (FC 256,
  FC 64·4·4, four 4×4 stride-2 transposed convolutions) with batch norm, as DCGAN generators have;
* mlp: two hidden layers of ``hidden`` units in each.

G's output: ``sigmoid`` (pixel intensities in [0, 1]; the default for image-shaped data, ``[C, H, W]``)
or ``linear`` (real vectors; the default for flat data).

The representation the metric suite reads (:meth:`InfoGAN.representation`) is Q's posterior mean of
the continuous codes followed by, for each categorical code, either its k class probabilities (k columns;
``categorical_representation="probs"``, the default) or its most probable class as one column
(``"argmax"``). Which to choose: the probabilities keep everything Q knows, but they spread one code over
k columns, each carrying only part of its information, so a gap-based score (MIG, SAP) cannot credit a
categorical code that captured a factor; ``"argmax"`` gives that code one column (with an arbitrary class
order, which MIG ignores). It has the interface of a pyrovae guide's ``representation``, so
:func:`pyrovae.evaluation.representation_function` and every metric work on an InfoGAN
unchanged. Training: :func:`pyrovae.train.infogan.fit_infogan` (plain torch optimisers, not SVI: a GAN
has no ELBO).

Chen, X., Duan, Y., Houthooft, R., Schulman, J., Sutskever, I. & Abbeel, P. (2016). InfoGAN:
Interpretable Representation Learning by Information Maximizing Generative Adversarial Nets. NeurIPS.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

from ..errors import PyroVAEError
from ..validation import check_int

OUTPUTS = ("sigmoid", "linear")
CATEGORICAL_REPRESENTATIONS = ("probs", "argmax")
LOG_STD_RANGE = (-5.0, 2.0)  # Q's log standard deviations are clamped here (stability of the Gaussian NLL)


def _is_image64(shape):
    return len(shape) == 3 and tuple(shape[1:]) == (64, 64)


class _ConvGenerator(nn.Module):
    def __init__(self, in_dim, out_shape):
        super().__init__()
        channels = out_shape[0]
        self.fc = nn.Sequential(nn.Linear(in_dim, 256), nn.BatchNorm1d(256), nn.ReLU(),
                                nn.Linear(256, 64 * 4 * 4), nn.BatchNorm1d(64 * 4 * 4), nn.ReLU())
        self.deconv = nn.Sequential(
            nn.ConvTranspose2d(64, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
            nn.ConvTranspose2d(64, 32, 4, 2, 1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.BatchNorm2d(32), nn.ReLU(),
            nn.ConvTranspose2d(32, channels, 4, 2, 1))

    def forward(self, h):
        return self.deconv(self.fc(h).view(-1, 64, 4, 4))


class _ConvBody(nn.Module):
    out_features = 256

    def __init__(self, in_shape):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(in_shape[0], 32, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(32, 32, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(32, 64, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(64, 64, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(64 * 4 * 4, 256), nn.LeakyReLU(0.2))

    def forward(self, x):
        return self.net(x)


class _MLPGenerator(nn.Module):
    def __init__(self, in_dim, out_shape, hidden):
        super().__init__()
        self.out_shape = tuple(out_shape)
        self.net = nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, math.prod(out_shape)))

    def forward(self, h):
        return self.net(h).view(-1, *self.out_shape)


class _MLPBody(nn.Module):
    def __init__(self, in_shape, hidden):
        super().__init__()
        self.out_features = hidden
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(in_shape), hidden), nn.LeakyReLU(0.2),
                                 nn.Linear(hidden, hidden), nn.LeakyReLU(0.2))

    def forward(self, x):
        return self.net(x)


class InfoGAN(nn.Module):
    """Generator G(z, c), discriminator D(x) and auxiliary Q(c | x) for data of shape ``data_shape``
    (without the batch dimension); see the module docstring.

    ``num_continuous`` codes U(−1, 1), ``categorical`` a tuple of category counts, ``noise_dim`` N(0, I)
    noise dimensions; ``arch`` auto/conv/mlp; ``hidden`` the MLP width; ``output`` auto/sigmoid/linear;
    ``categorical_representation`` probs/argmax (what :meth:`representation` gives for categorical codes).
    """

    def __init__(self, data_shape, num_continuous=5, categorical=(), noise_dim=5, arch="auto", hidden=256,
                 output="auto", categorical_representation="probs"):
        super().__init__()
        self.data_shape = tuple(int(s) for s in data_shape)
        self.num_continuous = check_int("InfoGAN num_continuous", num_continuous, minimum=0)
        self.categorical = tuple(check_int("InfoGAN categorical size", k, minimum=2) for k in categorical)
        self.noise_dim = check_int("InfoGAN noise_dim", noise_dim, minimum=0)
        if self.num_continuous + len(self.categorical) == 0:
            raise PyroVAEError("InfoGAN needs at least one code: num_continuous >= 1 or a categorical code")
        if arch not in ("auto", "conv", "mlp"):
            raise PyroVAEError(f"unknown architecture {arch!r}: choose one of auto, conv, mlp")
        if arch == "auto":
            arch = "conv" if _is_image64(self.data_shape) else "mlp"
        if arch == "conv" and not _is_image64(self.data_shape):
            raise PyroVAEError(f"the conv InfoGAN needs 64x64 images, data have shape {self.data_shape}: "
                               "use arch mlp")
        if output == "auto":
            output = "sigmoid" if len(self.data_shape) == 3 else "linear"
        if output not in OUTPUTS:
            raise PyroVAEError(f"unknown InfoGAN output {output!r}: choose one of {', '.join(OUTPUTS)}")
        if categorical_representation not in CATEGORICAL_REPRESENTATIONS:
            raise PyroVAEError(f"unknown categorical_representation {categorical_representation!r}: choose one "
                               f"of {', '.join(CATEGORICAL_REPRESENTATIONS)}")
        self.arch, self.output = arch, output
        self.categorical_representation = categorical_representation
        in_dim = self.noise_dim + self.num_continuous + sum(self.categorical)
        if arch == "conv":
            self.generator, self.body = _ConvGenerator(in_dim, self.data_shape), _ConvBody(self.data_shape)
        else:
            hidden = check_int("InfoGAN hidden", hidden)
            self.generator = _MLPGenerator(in_dim, self.data_shape, hidden)
            self.body = _MLPBody(self.data_shape, hidden)
        features = self.body.out_features
        self.d_head = nn.Linear(features, 1)
        self.q_head = nn.Sequential(nn.Linear(features, 128), nn.LeakyReLU(0.2),
                                    nn.Linear(128, 2 * self.num_continuous + sum(self.categorical)))

    # ---- sizes and parameter groups -------------------------------------------------------------
    @property
    def code_dim(self):
        """G's code columns: the continuous codes, then k (one-hot or probabilities) per categorical code."""
        return self.num_continuous + sum(self.categorical)

    @property
    def representation_dim(self):
        """Columns of :meth:`representation`: the continuous codes, then k (``probs``) or 1 (``argmax``) per
        categorical code."""
        per_code = sum(self.categorical) if self.categorical_representation == "probs" else len(self.categorical)
        return self.num_continuous + per_code

    def discriminator_parameters(self):
        """D's and Q's parameters (the shared body and both heads): one optimiser."""
        return [*self.body.parameters(), *self.d_head.parameters(), *self.q_head.parameters()]

    def generator_parameters(self):
        return list(self.generator.parameters())

    def _device(self):
        return next(self.parameters()).device

    # ---- sampling and generating ----------------------------------------------------------------
    def sample_codes(self, num, generator=None):
        """``(noise [n, noise_dim], continuous [n, num_continuous], categorical int64 [n, len(categorical)])``
        drawn from the priors: N(0, I), U(−1, 1), uniform classes."""
        device = self._device()
        noise = torch.randn(num, self.noise_dim, generator=generator, device=device)
        continuous = torch.rand(num, self.num_continuous, generator=generator, device=device) * 2 - 1
        categorical = torch.stack([torch.randint(k, (num,), generator=generator, device=device)
                                   for k in self.categorical], -1) if self.categorical else \
            torch.zeros(num, 0, dtype=torch.long, device=device)
        return noise, continuous, categorical

    def _generator_input(self, noise, continuous, categorical):
        """G's input; ``categorical`` as class indices [n, K] or as concatenated per-code probabilities."""
        if categorical.dtype in (torch.int64, torch.int32):
            parts = [F.one_hot(categorical[:, j], k).to(continuous.dtype) for j, k in enumerate(self.categorical)]
            categorical = torch.cat(parts, -1) if parts else continuous.new_zeros(len(continuous), 0)
        return torch.cat([noise, continuous, categorical], -1)

    def generate(self, noise, continuous, categorical):
        """G(z, c): data-space samples (sigmoid or linear output) of the given noise and codes."""
        out = self.generator(self._generator_input(noise, continuous, categorical))
        return torch.sigmoid(out) if self.output == "sigmoid" else out

    @torch.no_grad()
    def sample(self, num, generator=None):
        """``num`` generated samples from the priors of noise and codes."""
        return self.generate(*self.sample_codes(num, generator))

    # ---- discriminator and Q --------------------------------------------------------------------
    def discriminate(self, x):
        """``(D's logit [n], Q's raw outputs [n, 2·num_continuous + Σ categorical])`` of ``x``."""
        h = self.body(x)
        return self.d_head(h).squeeze(-1), self.q_head(h)

    def split_q(self, q):
        """Q's raw outputs -> ``(mean [n, C], log_std [n, C], [logits [n, k] per categorical code])``."""
        c = self.num_continuous
        mean, log_std = q[:, :c], q[:, c:2 * c].clamp(*LOG_STD_RANGE)
        logits, start = [], 2 * c
        for k in self.categorical:
            logits.append(q[:, start:start + k])
            start += k
        return mean, log_std, logits

    def q_posterior(self, x):
        """Q(c | x): ``(mean, log_std, [class logits per categorical code])``."""
        return self.split_q(self.discriminate(x)[1])

    def information_terms(self, q, continuous, categorical):
        """``(−E log Q(c_cont | x), −E log Q(c_cat | x))`` per sample, summed over codes, batch means: the
        negated lower bound on I(c; G(z, c)) up to the constant H(c). Continuous: factored Gaussian NLL;
        categorical: cross-entropy."""
        mean, log_std, logits = self.split_q(q)
        if self.num_continuous:
            z = (continuous - mean) * torch.exp(-log_std)
            nll = (0.5 * z ** 2 + log_std + 0.5 * math.log(2 * math.pi)).sum(-1).mean()
        else:
            nll = q.new_zeros(())
        ce = sum((F.cross_entropy(lg, categorical[:, j]) for j, lg in enumerate(logits)), q.new_zeros(()))
        return nll, ce

    def representation(self, x):
        """The code the metrics read, ``[n, representation_dim]``: Q's mean of the continuous codes, then
        per categorical code its class probabilities (``probs``) or its most probable class as a float
        (``argmax``)."""
        mean, _, logits = self.q_posterior(x)
        if self.categorical_representation == "argmax":
            return torch.cat([mean, *(lg.argmax(-1, keepdim=True).to(mean.dtype) for lg in logits)], -1)
        return torch.cat([mean, *(lg.softmax(-1) for lg in logits)], -1)

    # ---- traversals ---------------------------------------------------------------------------
    @torch.no_grad()
    def decode(self, codes, noise=None):
        """G's output for codes ``[n, code_dim]``: continuous values, then per categorical code k class
        probabilities (one-hot or not, given to G as they are), with the noise at 0 unless ``noise`` is
        given: what a traversal shows."""
        codes = torch.as_tensor(codes, dtype=torch.float32, device=self._device())
        if codes.dim() == 1:
            codes = codes[None]
        if codes.shape[-1] != self.code_dim:
            raise PyroVAEError(f"InfoGAN codes have {self.code_dim} columns, got {codes.shape[-1]}")
        if noise is None:
            noise = codes.new_zeros(len(codes), self.noise_dim)
        c = self.num_continuous
        return self.generate(noise, codes[:, :c], codes[:, c:])

    @torch.no_grad()
    def traversal(self, steps=9, limit=1.0, base=None):
        """Rows of generated samples, one row per code: each continuous code swept over
        [−limit, limit] (its prior's support is [−1, 1]) and each categorical code through its classes,
        the other codes at ``base`` (default: continuous 0, categorical uniform) and the noise at 0.
        Returns ``(list of tensors [steps or k, *data_shape], row labels)``."""
        if base is None:
            base = torch.cat([torch.zeros(self.num_continuous)] +
                             [torch.full((k,), 1.0 / k) for k in self.categorical])
        base = torch.as_tensor(base, dtype=torch.float32, device=self._device()).reshape(-1)
        rows, labels = [], []
        for j in range(self.num_continuous):
            codes = base.repeat(steps, 1)
            codes[:, j] = torch.linspace(-limit, limit, steps, device=codes.device)
            rows.append(self.decode(codes))
            labels.append(f"c{j}")
        start = self.num_continuous
        for j, k in enumerate(self.categorical):
            codes = base.repeat(k, 1)
            codes[:, start:start + k] = torch.eye(k, device=codes.device)
            rows.append(self.decode(codes))
            labels.append(f"cat{j}")
            start += k
        return rows, labels

    def config(self):
        """The constructor arguments (to rebuild the networks for a saved state dict)."""
        return {"data_shape": list(self.data_shape), "num_continuous": self.num_continuous,
                "categorical": list(self.categorical), "noise_dim": self.noise_dim, "arch": self.arch,
                "hidden": getattr(self.body, "out_features", 256), "output": self.output,
                "categorical_representation": self.categorical_representation}
