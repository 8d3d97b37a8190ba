"""What the sweep's backends share: the queue of runs with their attempts and retries, the rows of the
results table and the progress lines; whether a plan uses GPUs; SIGTERM as Ctrl-C."""
import contextlib
import os
import signal

from ...train.rundir import CONFIG
from ...utils import signal_handlers


def uses_cuda(plan):
    """Whether any run of ``plan`` may train on a GPU (a device other than cpu)."""
    return any(str(r.config.get("device", "auto")) not in ("cpu",) for r in plan.runs)


@contextlib.contextmanager
def sigterm_as_interrupt():
    """SIGTERM stops the sweep as Ctrl-C does (a KeyboardInterrupt), from the main thread."""

    def handler(signum, frame):
        raise KeyboardInterrupt

    with signal_handlers(handler, (signal.SIGTERM,)):
        yield


class Scheduler:
    """Bookkeeping shared by the backends: attempts, retries, rows, progress lines (``echo``)."""

    def __init__(self, plan, todo, db, retries, echo, threads=None):
        self.plan, self.db, self.retries, self.echo, self.threads = plan, db, retries, echo, threads
        self.queue = list(todo)
        self.attempts = {r.name: 0 for r in todo}
        self.total, self.finished = len(todo), 0

    def next_task(self):
        run = self.queue.pop(0)
        self.attempts[run.name] += 1
        resume = run.run_dir.exists() and (run.run_dir / CONFIG).exists()
        self.db.upsert(run, status="running", attempts=self.attempts[run.name], error=None)
        return run, {"name": run.name, "config": run.config, "resume": resume, "imports": self.plan.imports,
                     "threads": self.threads, "attempt": self.attempts[run.name], "cwd": os.getcwd()}

    def handle(self, run, result):
        """Record ``result``; returns True if the run goes back into the queue."""
        status = result["status"]
        if status == "failed" and self.attempts[run.name] <= self.retries:
            self.echo(f"retrying {run.name} (attempt {self.attempts[run.name]} failed: {result['error']})")
            self.db.upsert(run, status="retrying", attempts=self.attempts[run.name], error=result["error"],
                           wall_s=result.get("wall_s"))
            self.queue.insert(0, run)
            return True
        self.finished += 1
        self.db.record_result(run, result, attempts=self.attempts[run.name])
        what = f"{status} {run.name} ({result.get('wall_s') or 0:.1f} s)"
        if result.get("error"):
            what += f": {result['error']}"
        self.echo(f"[{self.finished}/{self.total}] {what}")
        return False

    def interrupted(self, runs):
        for run in runs:
            self.db.upsert(run, status="interrupted", attempts=self.attempts[run.name], error=None)
        for run in self.queue:
            self.db.upsert(run, status="pending", attempts=self.attempts[run.name], error=None)
