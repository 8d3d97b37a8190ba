"""Name -> objective class registry, used by the CLI (``--objective NAME``) and saved configs."""
from ..errors import PyroVAEError

OBJECTIVES = {}
# options of Pyro's ELBO that every objective accepts besides its own hyperparameters
PYRO_OPTIONS = {"num_particles", "vectorize_particles"}


def register(name):
    """Class decorator: make an objective selectable by ``name``."""

    def decorate(cls):
        cls.name = name
        OBJECTIVES[name] = cls
        return cls

    return decorate


def make_objective(name, jit=False, **hyperparameters):
    """Instantiate the objective registered as ``name`` with ``hyperparameters`` (unknown keys are
    an error, so a misspelt option is never silently ignored); ``jit=True`` compiles its loss with
    Pyro's JIT (see :mod:`pyrovae.objectives.base`), or raises for an objective that cannot run so."""
    if name not in OBJECTIVES:
        raise PyroVAEError(f"unknown objective {name!r}: choose one of {', '.join(sorted(OBJECTIVES))}")
    cls = OBJECTIVES[name]
    unknown = set(hyperparameters) - set(cls.hyperparameters) - PYRO_OPTIONS
    if unknown:
        raise PyroVAEError(f"objective {name!r} takes no option(s) {', '.join(sorted(unknown))}; "
                           f"it takes: {', '.join(sorted(cls.hyperparameters)) or 'none'}")
    return cls(jit=jit, **hyperparameters) if jit else cls(**hyperparameters)
