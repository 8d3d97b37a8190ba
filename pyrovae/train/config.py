"""The full description of a training run, saved as ``config.json`` in the run dir."""
import dataclasses
from dataclasses import dataclass, field

from ..errors import PyroVAEError
from ..factories import is_factory_spec, normalise_spec
from ..utils import PRECISIONS
from ..validation import check_choice, check_int, check_number


@dataclass
class TrainConfig:
    objective: str = "beta-vae"
    objective_options: dict = field(default_factory=dict)  # the objective's hyperparameters
    dataset: str = "dsprites"  # a registered name or the path of the user's data
    path: str = None  # the official file (or folder) of dsprites, shapes3d, mpi3d, smallnorb or cars3d
    prior: str = "normal"
    guide: str = "diagonal"  # a registered name, or the user's guide factory "guides/my_guide.py:make_guide"
    model: str = None  # None: the built-in VAE (arch, prior, likelihood); or "models/my_model.py:make_model"
    likelihood: str = "auto"  # auto: chosen by the data's values (see models.likelihoods.likelihood_for)
    arch: str = "auto"
    latent_dim: int = 10
    steps: int = None  # None: a budget that suits the device (see default_steps)
    batch_size: int = 64
    lr: float = 1e-4
    seed: int = 0
    device: str = "auto"
    out: str = None  # None: runs/<objective>-seed<seed>
    checkpoint_every: int = 500
    log_every: int = 50
    plots: bool = True
    evaluate: bool = True
    eval_points: int = None  # None: a size that suits the device
    precision: str = "auto"  # fp32, bf16 (mixed: the networks in bf16) or auto (bf16 where native)
    jit: bool = False  # compile the loss with torch's JIT tracer (see pyrovae.objectives.base)
    tensorboard: bool = False  # also log to RUN_DIR/tensorboard/ (see pyrovae.train.tensorboard)

    @classmethod
    def from_dict(cls, values):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise PyroVAEError(f"unknown config key(s) {', '.join(sorted(unknown))}")
        return cls(**values)

    def to_dict(self):
        return dataclasses.asdict(self)

    def validate(self):
        """Check the numbers and names; counts given as strings or floats (YAML, JSON) become ints."""
        for name in ("latent_dim", "steps", "batch_size", "checkpoint_every", "log_every", "eval_points"):
            setattr(self, name, check_int(name.replace("_", "-"), getattr(self, name),
                                          allow_none=name in ("steps", "eval_points")))
        self.lr = check_number("lr", self.lr, minimum=0, exclusive=True)
        check_choice("precision", self.precision, PRECISIONS)
        for name in ("jit", "tensorboard"):
            if not isinstance(getattr(self, name), bool):
                raise PyroVAEError(f"{name} must be true or false, got {getattr(self, name)!r}")
        self._check_user_pair()
        return self

    def _check_user_pair(self):
        """Make the user's factory specs absolute (a resumed run finds them from anywhere) and refuse the
        built-in model's settings where the user's model replaces it."""
        if self.model is not None:
            if not is_factory_spec(self.model):
                raise PyroVAEError(f"model must be the user's model factory, PATH.py:make_model, got {self.model!r} "
                                   "(leave it out for the built-in model)")
            self.model = normalise_spec(self.model, "model")
            given = [name for name, default in (("prior", "normal"), ("likelihood", "auto"))
                     if getattr(self, name) != default]
            if given:
                raise PyroVAEError(f"--{' and --'.join(given)} set(s) the built-in model's {' and '.join(given)}; "
                                   f"the model {self.model} has its own: leave them out")
        if is_factory_spec(self.guide):
            self.guide = normalise_spec(self.guide, "guide")
            if self.model is not None and self.arch != "auto":
                raise PyroVAEError("--arch sets the built-in networks, and both model and guide are your own: "
                                   "leave it out")


#: The thesis budget (Mushom 2020, Table 5.1), the GPU default: 22,260 steps of batch 64, 1.93 passes
#: over dSprites' 737,280 images (the thesis calls it 30 epochs; its "742 iterations per epoch" is a
#: miscount: an epoch is 11,520 batches).
THESIS_STEPS = 22_260
#: The budget of the 2019 large-scale study (Locatello et al. 2019; disentanglement_lib): 300,000 steps
#: of batch 64, for comparison with its models.
STUDY_STEPS = 300_000
#: the step budgets ``--steps`` (and a sweep spec's ``steps``) accept by name
NAMED_STEPS = {"thesis": THESIS_STEPS, "study": STUDY_STEPS}
#: On a CPU with no --steps the trainer trains for about this long: the clock is the budget. The default
#: job's other parts (start, data, metric suite, plots) took 90-115 s on our 2-core CPUs, so with 450 s of
#: training it stays within 10 minutes.
CPU_TRAIN_SECONDS = 450


def cpu_step_budget(steps_done, elapsed_s, seconds=None):
    """Total steps of a clock-budgeted CPU run that trained ``steps_done`` steps in ``elapsed_s`` seconds: as
    many as fit in ``seconds`` (default :data:`CPU_TRAIN_SECONDS`) at the mean pace so far; at least 100 and
    ``steps_done``, at most the thesis budget."""
    seconds = CPU_TRAIN_SECONDS if seconds is None else seconds
    return int(min(THESIS_STEPS, max(100, steps_done, seconds * steps_done / max(elapsed_s, 1e-9))))


def parse_steps(value):
    """A step budget as an int: an integer (or its string, e.g. ``"3000"``) or a name of
    :data:`NAMED_STEPS` (``thesis``, ``study``); None (a budget that suits the device) stays None."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value  # TrainConfig.validate checks that it is positive
    if isinstance(value, str):
        name = value.strip().lower()
        if name in NAMED_STEPS:
            return NAMED_STEPS[name]
        try:
            return int(name)
        except ValueError:
            pass
    raise PyroVAEError(f"steps must be a positive integer or the name of a budget, thesis ({THESIS_STEPS:,} "
                       f"steps) or study ({STUDY_STEPS:,}), got {value!r}")

