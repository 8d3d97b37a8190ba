"""Training: stochastic variational inference with checkpoints, resume and a NaN guard.

One step is the objective's differentiable loss (a Pyro ELBO over model and guide), ``backward``,
one Adam step over all parameters, then the objective's ``after_step`` (an adversary's update).
That is Pyro's SVI with a single torch optimiser instead of one ``PyroOptim`` per parameter: the
same gradients, less per-step Python, and an optimiser state that checkpoints as one ``state_dict``.

Precision (``config.precision``): in ``bf16`` the networks (encoder, decoder, and the discriminator of an
adversarial objective) run forward and backward under bf16 autocast and hand float32 outputs on
(:func:`pyrovae.utils.run_network`); parameters, log-densities, KLs, every estimate, the loss, the
optimiser state and the checkpoints stay float32. ``auto`` is bf16 where the device computes bf16
natively (:func:`pyrovae.utils.native_bf16`).
"""
import contextlib
import dataclasses
import json
import logging
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pyro
import torch

from ..atomic import write_json
from ..data import load_dataset
from ..errors import PyroVAEError
from ..factories import factory_spec, first_line
from ..guides import UserGuide
from ..models import UserModel, VAEModel, build_vae, check_pair
from ..models.likelihoods import likelihood_for
from ..objectives import make_objective
from ..utils import (
    cpu_threads,
    network_precision,
    params_outside_pyro,
    resolve_device,
    resolve_precision,
    seed_everything,
    signal_handlers,
    tune_malloc,
)
from .checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .config import CPU_TRAIN_SECONDS, THESIS_STEPS, TrainConfig, cpu_step_budget
from .encode import encode_data
from .progress import Progress
from .rundir import CHECKPOINT, CONFIG, LOG, changed_keys, log_records, provenance, read_config, run_dir_of
from .sampler import EpochSampler
from .tensorboard import TensorBoardLog, summary_writer_class

logger = logging.getLogger(__name__)


class TrainingDiverged(PyroVAEError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass
class Run:
    """What :func:`fit` returns: the trained pieces and where they were written."""
    run_dir: Path
    config: TrainConfig
    model: torch.nn.Module
    guide: torch.nn.Module
    objective: object
    dataset: object
    step: int

    def encode(self, x, batch_size=256, progress=False, limit=None):
        """The means and scales of q(z | x) for the user's data ``x`` (an array or tensor ``[N, *shape]`` of
        the training data's point shape, or a dataset), in batches on the guide's device: :class:`Codes`
        ``(means, scales)``, numpy ``[N, latent_dim]``. ``progress``: a progress bar on a terminal;
        ``limit``: only the first ``limit`` points."""
        return encode_data(self.guide, x, self.dataset.observation_shape, batch_size, progress,
                           source=str(self.run_dir), limit=limit)


def _parameters(*modules):
    """Parameters of all modules, each once (a VampPrior shares the encoder with the guide)."""
    seen = {}
    for module in modules:
        for p in module.parameters():
            seen.setdefault(id(p), p)
    return list(seen.values())


def make_optimizer(modules, lr):
    """One Adam over every parameter; the fused kernel (CPU and CUDA) saves a third of the MLP step."""
    return torch.optim.Adam(_parameters(*modules), lr=lr, fused=True)


def train_step(model, guide, objective, optimizer, x, validate=False, precision="fp32"):
    """One SVI step: loss, gradients, Adam, then the objective's own update; returns the loss.

    Pyro's validation (shape checks, one host sync each) runs only when ``validate``: the trainer
    validates the first step and runs the rest without it. ``precision`` "bf16" runs the networks in
    mixed precision (module docstring). A NaN/Inf loss raises :class:`TrainingDiverged` before any
    parameter changes."""
    optimizer.zero_grad(set_to_none=True)
    with pyro.validation_enabled(validate), network_precision(precision), params_outside_pyro():
        loss = objective.differentiable_loss(model, guide, x)
    value = float(loss.detach())
    if not math.isfinite(value):
        raise TrainingDiverged(f"loss is {value}")
    loss.backward()
    optimizer.step()
    with network_precision(precision):  # the discriminator step of an adversarial objective
        objective.after_step()
    return value


def build(config, dataset=None, device="cpu"):
    """Dataset, model, guide and objective for ``config``, with inputs checked before any training."""
    objective = make_objective(config.objective, jit=config.jit, **config.objective_options)
    if dataset is None:
        dataset = load_dataset(config.dataset, **({"path": config.path} if config.path else {}))
    if config.batch_size > len(dataset):
        raise PyroVAEError(f"batch size {config.batch_size} is larger than the dataset ({len(dataset)} points): "
                           "lower --batch-size")
    # NaN, the likelihood "auto" resolves to and its support: on all data when in memory, else a sample
    data = getattr(dataset, "observations", None)
    if data is None:
        n = min(len(dataset), 256)
        data = dataset.batch(torch.randint(len(dataset), (n,), generator=torch.Generator().manual_seed(0)))
    if not bool(torch.isfinite(data).all()):
        raise PyroVAEError("the data contain NaN or infinite values: clean them before training")
    likelihood = likelihood_for(data) if config.likelihood == "auto" and config.model is None else config.likelihood
    model, guide = build_vae(dataset.observation_shape, config.latent_dim, config.arch, config.prior,
                             likelihood, config.guide, model=config.model)
    if isinstance(model, VAEModel):
        model.likelihood.validate(data)
    model, guide = model.to(device), guide.to(device)
    if is_user_pair(model, guide):
        check_pair(model, guide, data[:4].to(device), config.latent_dim)
    objective.dataset_size = len(dataset)
    return dataset, model, guide, objective


def is_user_pair(model, guide):
    """Whether the model or the guide is the user's own (``--model``, ``--guide PATH.py:FACTORY``)."""
    return isinstance(model, UserModel) or isinstance(guide, UserGuide)


def use_channels_last(modules, device, precision):
    """Convert conv nets to the channels_last memory format where it is faster: on a CPU (our 2-core
    AVX2 CPUs: 0.70-0.79x the fp32 step; an AMX CPU: 0.68x the bf16 step, 0.84x the fp32 step) and on a
    GPU in bf16 (the layout of its tensor-core kernels). Returns whether it did; numerics are unchanged up
    to the kernels' summation order."""
    has_conv = any(isinstance(m, torch.nn.modules.conv._ConvNd) for module in modules for m in module.modules())
    if not has_conv or not (device.type == "cpu" or precision == "bf16"):
        return False
    for module in modules:
        module.to(memory_format=torch.channels_last)
    return True


def fit(config, dataset=None, resume=False, progress=True, model=None, guide=None):
    """Train a model as described by ``config`` (a :class:`TrainConfig` or a dict); returns a :class:`Run`.

    The run dir gets ``config.json`` (config, seed, versions, git revision), ``log.jsonl`` (one line
    per logged step), ``checkpoint.pt`` (every ``checkpoint_every`` steps, on exit and on Ctrl-C or
    SIGTERM) and, with ``config.tensorboard``, TensorBoard events in ``tensorboard/``: the logged terms
    and, at each checkpoint, images (:mod:`pyrovae.train.tensorboard`). It neither plots nor evaluates:
    :func:`pyrovae.plots.plot_run` and :func:`pyrovae.evaluation.evaluate_run` do (the ``pyrovae train``
    command runs both, as the config's ``plots`` and ``evaluate`` ask). ``resume=True`` continues from the
    checkpoint and gives the same parameters as an uninterrupted run with the same seed.

    ``model`` and ``guide``: the user's own Pyro model and guide (:mod:`pyrovae.models.user`), each a
    factory as ``"PATH.py:name"`` or a top-level function of a file; they set the config's ``model`` and
    ``guide`` keys, and ``config.json`` records them so that ``resume`` and :func:`load_run` rebuild them.
    """
    with cpu_threads():
        return _fit(config, dataset, resume, progress, model, guide)


def _fit(config, dataset, resume, progress, model=None, guide=None):
    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    users = {key: factory_spec(value, key) for key, value in (("model", model), ("guide", guide)) if value is not None}
    config = dataclasses.replace(config, **users)
    config.validate()
    writer_class = summary_writer_class() if config.tensorboard else None  # a missing extra fails first
    device = resolve_device(config.device)
    # config.json records the precision this run uses, not "auto"
    config = dataclasses.replace(config, precision=resolve_precision(config.precision, device))
    if device.type == "cpu":
        tune_malloc()  # process-wide but harmless: larger freed blocks are kept for reuse
    run_dir = run_dir_of(config)
    ckpt_path = run_dir / CHECKPOINT

    saved_steps = _check_resumable(run_dir, config) if resume else None
    steps = config.steps or saved_steps or THESIS_STEPS
    # With no step budget on a CPU the clock is the budget: every 25 steps the total is estimated again from
    # the mean pace so far. Fixing it from the first steps missed by 25-30 % both ways on a shared CPU (75 ms
    # per step over the first 1,000 steps, then 100 ms), and the default job must end on time.
    calibrate = config.steps is None and saved_steps is None and device.type == "cpu"
    if not resume and ckpt_path.exists():
        raise PyroVAEError(f"{run_dir} already holds a run: pass --resume to continue it or choose another --out")

    seed_everything(config.seed)
    pyro.clear_param_store()
    dataset, model, guide, objective = build(config, dataset, device)
    # the user's modules keep their memory format: their code may .view() a conv output
    channels_last = use_channels_last([m for m in (model, guide) if not isinstance(m, (UserModel, UserGuide))],
                                      device, config.precision)
    optimizer = make_optimizer((model, guide), config.lr)
    batches = EpochSampler(len(dataset), config.batch_size, config.seed)
    step = 0
    if resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path, map_location=device)
        model.load_state_dict(state["model"])
        guide.load_state_dict(state["guide"])
        optimizer.load_state_dict(state["optimizer"])
        objective.load_state_dict(state["objective"])
        # a checkpoint from before epoch-wise batches holds only its batch generator: shuffle from it
        batches.load_state_dict(state.get("sampler") or {"epoch_start": state["batch_rng"], "position": 0, "epoch": 0})
        set_rng_state(state["rng"])
        step = state["step"]

    logger.info("training on %s in %s%s%s from step %d", device, config.precision,
                ", channels_last" if channels_last else "", ", with the JIT" if config.jit else "", step)
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_config(run_dir, config, None if calibrate else steps, resume)
    log = _open_log(run_dir / LOG, step)
    board = TensorBoardLog(writer_class, run_dir, step, dataset, device) if writer_class else None

    def checkpoint():
        save_checkpoint(ckpt_path, {
            "step": step, "model": model.state_dict(), "guide": guide.state_dict(),
            "optimizer": optimizer.state_dict(), "objective": objective.state_dict(),
            "sampler": batches.state_dict(), "rng": rng_state(),
        })
        if board:
            board.images(model, guide, step)

    model.train(), guide.train()
    sums, count, start, first_step = {}, 0, time.perf_counter(), step
    bar = Progress(steps, step, config.objective, progress)
    try:
        with _deferred_interrupts() as interrupted:
            while step < steps and not interrupted:
                x = dataset.batch(batches.next().to(device))
                objective.step = step
                try:
                    train_step(model, guide, objective, optimizer, x, validate=step == first_step,
                               precision=config.precision)
                except TrainingDiverged as e:
                    raise TrainingDiverged(
                        f"training diverged at step {step} ({e}); the last good checkpoint in {ckpt_path} "
                        "is kept: lower --lr or check the data, then --resume") from None
                except Exception as e:
                    if step != first_step or isinstance(e, PyroVAEError) or not is_user_pair(model, guide):
                        raise
                    # the objective meets the user's pair here first: what it needs and misses, in one line
                    raise PyroVAEError(f"--objective {config.objective} cannot train this model and guide: "
                                       f"{type(e).__name__}: {first_line(e)}") from None
                step += 1
                if calibrate and step % 25 == 0:
                    steps = cpu_step_budget(step, time.perf_counter() - start, CPU_TRAIN_SECONDS)
                    bar.total = steps
                    if step == 25:
                        _write_config(run_dir, config, steps, resume=True, new_start=False)
                for key, value in objective.terms.items():
                    if torch.is_tensor(value):
                        sums[key] = sums.get(key, 0) + value
                count += 1
                if step % config.log_every == 0 or step == steps:
                    record = {"step": step, "time_s": round(time.perf_counter() - start, 3)}
                    record.update({k: _plain(v / count) for k, v in sums.items()})
                    log.write(json.dumps(record) + "\n")
                    log.flush()
                    if board:
                        board.scalars(record)
                    bar.log(record)
                    sums, count = {}, 0
                if step % config.checkpoint_every == 0:
                    checkpoint()
                bar.update(1)
            if interrupted:
                checkpoint()
                raise PyroVAEError(f"interrupted at step {step}; checkpoint kept in {run_dir}: "
                                   "continue with --resume")
        if calibrate:  # the budget the clock gave, for resume and the record
            _write_config(run_dir, config, step, resume=True, new_start=False)
        checkpoint()  # before the board closes: it writes the final images
    finally:
        bar.close()
        log.close()
        if board:
            board.close()
    model.eval(), guide.eval()
    return Run(run_dir, config, model, guide, objective, dataset, step)


def _plain(value):
    value = value.detach().cpu()
    return value.tolist() if value.dim() else float(value)


@contextlib.contextmanager
def _deferred_interrupts():
    """Turn Ctrl-C and SIGTERM into a request that the loop honours between steps, so a checkpoint
    never holds half an update. Yields a list that becomes truthy once a stop was asked for."""
    requested = []
    with signal_handlers(lambda signum, frame: requested.append(signum), (signal.SIGINT, signal.SIGTERM)):
        yield requested


def _write_config(run_dir, config, steps, resume, new_start=True):
    path = run_dir / CONFIG
    record = json.loads(path.read_text()) if resume and path.exists() else {}
    record["config"] = {**config.to_dict(), "steps": steps}
    record["seed"] = config.seed
    if new_start:
        record.setdefault("starts", []).append(provenance())
    write_json(path, record)


def _open_log(path, step):
    """The log, cut back to ``step`` (steps after the last checkpoint are redone after a kill)."""
    kept = [record for record in log_records(path) if record["step"] <= step]
    path.write_text("".join(json.dumps(record) + "\n" for record in kept))
    return open(path, "a")


def _check_resumable(run_dir, config):
    """Raise unless ``config`` matches the saved run; return the saved step budget (None if none)."""
    saved = read_config(run_dir, missing_ok=True)
    if saved is None:
        return None  # nothing was saved yet: --resume starts the run
    changed = changed_keys(saved, config.to_dict())
    if changed:
        raise PyroVAEError(f"--resume with a different {', '.join(changed)} than the saved run in {run_dir}: "
                           "use the saved settings or another --out")
    return saved.get("steps")


def load_run(run_dir, device="auto"):
    """The trained model and guide of a run dir, with its config and dataset: ``Run``."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise PyroVAEError(f"run dir {run_dir} does not exist")
    config = TrainConfig.from_dict(read_config(run_dir))
    device = resolve_device(device)
    state = load_checkpoint(run_dir / CHECKPOINT, map_location=device)
    dataset, model, guide, objective = build(config, device=device)
    model.load_state_dict(state["model"])
    guide.load_state_dict(state["guide"])
    objective.load_state_dict(state["objective"])
    model.eval(), guide.eval()
    return Run(run_dir, config, model, guide, objective, dataset, state["step"])
