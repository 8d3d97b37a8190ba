"""Training an :class:`~pyrovae.models.infogan.InfoGAN` (Chen et al. 2016) with plain torch optimisers.

A GAN has no ELBO, so this is not SVI. One step, as in Chen et al. (2016) and their code:

1. D and Q (shared body, one Adam, lr ``lr_discriminator``): the GAN cross-entropy on a data batch (label
   1) and on generated samples G(z, c), detached (label 0), plus λ·L_I on those samples;
2. G (its own Adam, lr ``lr_generator``): the non-saturating generator loss −log D(G(z, c)) plus λ·L_I on
   the same samples, now differentiable through G.

L_I is split as λ_cont·(Gaussian NLL of the continuous codes) + λ_cat·(cross-entropy of the categorical
codes); the paper sets λ = 1 for discrete codes and a smaller λ for continuous ones, whose NLL involves a
differential entropy: defaults 1 and 0.1. Adam betas (0.5, 0.999); learning rates 2e-4 (D, Q) and 1e-3
(G), the paper's MNIST settings.
"""
import math
import time

import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from ..errors import PyroVAEError
from ..utils import seed_everything
from ..validation import check_int, check_number


def fit_infogan(gan, dataset, steps=1000, batch_size=64, lr_discriminator=2e-4, lr_generator=1e-3,
                info_weight_continuous=0.1, info_weight_categorical=1.0, seed=0, log_every=50, progress=False,
                betas=(0.5, 0.999)):
    """Train ``gan`` in place on ``dataset`` (pyrovae's training protocol: ``len``, ``batch(indices)``)
    for ``steps`` steps on the device of its parameters; returns the list of logged records (every
    ``log_every`` steps, means since the last record): ``d_loss``, ``g_loss`` (its adversarial part),
    ``info_continuous``, ``info_categorical`` (the two parts of −L_I before weighting),
    ``d_accuracy`` (D's accuracy on the data and generated halves) and ``q_accuracy`` (Q's accuracy
    on the categorical codes of generated samples; absent without categorical codes)."""
    steps, batch_size = check_int("steps", steps), check_int("batch size", batch_size, minimum=2)
    if batch_size > len(dataset):
        raise PyroVAEError(f"batch size {batch_size} is larger than the dataset ({len(dataset)} points)")
    if tuple(dataset.observation_shape) != gan.data_shape:
        raise PyroVAEError(f"the InfoGAN was built for data of shape {gan.data_shape}, the dataset has "
                           f"{tuple(dataset.observation_shape)}")
    lr_d = check_number("lr_discriminator", lr_discriminator, minimum=0, exclusive=True)
    lr_g = check_number("lr_generator", lr_generator, minimum=0, exclusive=True)
    w_cont = check_number("info_weight_continuous", info_weight_continuous, minimum=0)
    w_cat = check_number("info_weight_categorical", info_weight_categorical, minimum=0)
    seed_everything(seed)
    device = next(gan.parameters()).device
    opt_d = torch.optim.Adam(gan.discriminator_parameters(), lr=lr_d, betas=betas)
    opt_g = torch.optim.Adam(gan.generator_parameters(), lr=lr_g, betas=betas)
    batches = torch.Generator().manual_seed(seed)
    ones = torch.ones(batch_size, device=device)
    zeros = torch.zeros(batch_size, device=device)
    history, sums, count, start = [], {}, 0, time.perf_counter()
    gan.train()
    for step in tqdm(range(1, steps + 1), disable=not progress, desc="infogan", dynamic_ncols=True):
        x = dataset.batch(torch.randint(len(dataset), (batch_size,), generator=batches).to(device))
        noise, continuous, categorical = gan.sample_codes(batch_size)
        fake = gan.generate(noise, continuous, categorical)

        # 1. discriminator and Q
        opt_d.zero_grad(set_to_none=True)
        d_real, _ = gan.discriminate(x)
        d_fake, q_fake = gan.discriminate(fake.detach())
        d_loss = F.binary_cross_entropy_with_logits(d_real, ones) + F.binary_cross_entropy_with_logits(d_fake, zeros)
        info_cont, info_cat = gan.information_terms(q_fake, continuous, categorical)
        (d_loss + w_cont * info_cont + w_cat * info_cat).backward()
        opt_d.step()

        # 2. generator (D and Q get gradients here too; their optimiser zeroes them before its next step)
        opt_g.zero_grad(set_to_none=True)
        d_fake, q_fake = gan.discriminate(fake)
        g_loss = F.binary_cross_entropy_with_logits(d_fake, ones)
        info_cont_g, info_cat_g = gan.information_terms(q_fake, continuous, categorical)
        (g_loss + w_cont * info_cont_g + w_cat * info_cat_g).backward()
        opt_g.step()

        with torch.no_grad():
            record = {"d_loss": d_loss, "g_loss": g_loss, "info_continuous": info_cont, "info_categorical": info_cat,
                      "d_accuracy": 0.5 * ((d_real > 0).float().mean() + (d_fake < 0).float().mean())}
            if gan.categorical:
                logits = gan.split_q(q_fake)[2]
                record["q_accuracy"] = torch.stack([(lg.argmax(-1) == categorical[:, j]).float().mean()
                                                    for j, lg in enumerate(logits)]).mean()
        for key, value in record.items():
            sums[key] = sums.get(key, 0.0) + value.detach()
        count += 1
        if step % log_every == 0 or step == steps:
            if not all(math.isfinite(float(sums[k])) for k in ("d_loss", "g_loss")):
                raise PyroVAEError(f"InfoGAN training diverged by step {step} (a loss is not finite): lower the "
                                   "learning rates")
            history.append({"step": step, "time_s": round(time.perf_counter() - start, 3),
                            **{k: float(v) / count for k, v in sums.items()}})
            sums, count = {}, 0
    gan.eval()
    return history

