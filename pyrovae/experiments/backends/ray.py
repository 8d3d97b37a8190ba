"""The Ray backend: each run a Ray task on the cluster at ``address`` (or a local Ray, or the one already
initialised); ``pip install 'pyrovae[ray]'``. The sweep dir must be on a file system every node sees. A
task whose worker process (or node) dies is a failed attempt: retried, then recorded as failed."""
import contextlib

from ...errors import PyroVAEError, import_extra
from ..worker import run_task
from .scheduler import Scheduler, sigterm_as_interrupt, uses_cuda


def run_ray(plan, todo, db, workers, retries, address, echo):
    """Run ``todo`` (runs of ``plan``) as Ray tasks, at most ``workers`` at a time, recording each result
    in ``db``."""
    ray = import_extra("ray", "ray", "the ray backend")
    started = not ray.is_initialized()
    if started:
        try:
            ray.init(address=address, log_to_driver=False)
        except ConnectionError as e:  # no cluster there (or none found for auto): one line, not a traceback
            raise PyroVAEError(f"cannot reach a Ray cluster ({e}); start one with `ray start --head`, or check "
                               "--address and RAY_ADDRESS") from None
    elif address:
        echo(f"note: Ray is already initialised in this process; --address {address} is not used")
    try:
        _ray_loop(ray, plan, todo, db, workers, retries, echo)
    finally:
        if started:
            ray.shutdown()


def _ray_loop(ray, plan, todo, db, workers, retries, echo):
    resources = ray.cluster_resources()
    gpus_per_run = 1 if resources.get("GPU", 0) >= 1 and uses_cuda(plan) else 0
    limit = workers or len(todo)
    task_fn = ray.remote(run_task).options(num_cpus=1, num_gpus=gpus_per_run, max_retries=0)
    sched = Scheduler(plan, todo, db, retries, echo, threads=None if gpus_per_run else 1)
    running = {}
    try:
        with sigterm_as_interrupt():
            while sched.queue or running:
                while sched.queue and len(running) < limit:
                    run, task = sched.next_task()
                    running[task_fn.remote(task)] = run
                ready, _ = ray.wait(list(running), num_returns=1)
                for ref in ready:
                    run = running.pop(ref)
                    try:
                        result = ray.get(ref)
                    except Exception as e:  # noqa: BLE001 (the task's process died)
                        result = {"status": "failed", "error": f"{type(e).__name__}: {(str(e).splitlines() or [''])[0]}",
                                  "wall_s": None}
                    sched.handle(run, result)
    except KeyboardInterrupt:
        echo("interrupted: cancelling the Ray tasks; run the sweep again to continue")
        for ref in running:
            with contextlib.suppress(Exception):
                ray.cancel(ref)
        sched.interrupted(list(running.values()))
        raise
