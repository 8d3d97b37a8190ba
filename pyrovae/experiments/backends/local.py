"""The local backend: ``workers`` processes (``ProcessPoolExecutor``, spawn context). With several GPUs
each worker owns one (``CUDA_VISIBLE_DEVICES``); each worker gets ``cores // workers`` torch threads
(``OMP_NUM_THREADS`` when set)."""
import concurrent.futures
import contextlib
import multiprocessing
import os

import torch

from ...errors import PyroVAEError
from ...utils import free_cores
from ..worker import run_task, worker_init
from .scheduler import Scheduler, sigterm_as_interrupt, uses_cuda


def _gpu_count():
    try:
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except Exception:  # noqa: BLE001
        return 0


def run_local(plan, todo, db, workers, retries, address, echo):
    """Run ``todo`` (runs of ``plan``) in worker processes, recording each result in ``db``."""
    if address:
        raise PyroVAEError("--address applies to --backend ray only")
    gpus = _gpu_count() if uses_cuda(plan) else 0
    if workers is None:
        workers = gpus if gpus > 1 else 1
    workers = min(workers, len(todo))
    ctx = multiprocessing.get_context("spawn")
    # torch threads per worker: OMP_NUM_THREADS when set (as for pyrovae train), else a share of the cores
    cores = int(os.environ.get("OMP_NUM_THREADS") or 0) or max(1, free_cores() // workers)
    sched = Scheduler(plan, todo, db, retries, echo, threads=cores)

    def new_pool():
        queue = None
        if gpus > 0:
            queue = ctx.Queue()
            for i in range(workers):
                queue.put(i % gpus)
        return concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx, initializer=worker_init,
                                                      initargs=(queue, cores))

    pool = new_pool()
    running = {}
    try:
        with sigterm_as_interrupt():
            while sched.queue or running:
                while sched.queue and len(running) < workers:
                    run, task = sched.next_task()
                    running[pool.submit(run_task, task)] = run
                finished, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
                broken = False
                for future in finished:
                    run = running.pop(future)
                    try:
                        result = future.result()
                    except concurrent.futures.process.BrokenProcessPool as e:
                        broken = True
                        result = {"status": "failed", "error": f"the worker process died ({e or 'killed'})",
                                  "wall_s": None}
                    except Exception as e:  # noqa: BLE001 (e.g. an unpicklable result)
                        result = {"status": "failed", "error": f"{type(e).__name__}: {e}", "wall_s": None}
                    if result["status"] == "interrupted":  # stopped by a signal: stop the sweep too
                        sched.interrupted([run])
                        raise KeyboardInterrupt
                    sched.handle(run, result)
                if broken:
                    for future, run in list(running.items()):  # every other run in the pool died with it
                        running.pop(future)
                        sched.handle(run, {"status": "failed", "error": "the worker pool broke (another run's "
                                           "process died)", "wall_s": None})
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = new_pool()
    except KeyboardInterrupt:
        echo("interrupted: stopping the runs (each saves a checkpoint); run the sweep again to continue")
        for process in list(getattr(pool, "_processes", {}).values()):
            with contextlib.suppress(Exception):
                process.terminate()  # SIGTERM: fit checkpoints and stops between two steps
        with contextlib.suppress(BaseException):
            concurrent.futures.wait(running, timeout=120)
        sched.interrupted(list(running.values()))
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
