"""Multi-process launch of ``python -m reproducers run``: torchrun on one or several nodes,
or a SLURM job through submitit. No home-made launcher: this module only builds the
torchrun / submitit call that re-runs the same command line in every process, where
``common.distributed.init_distributed`` picks the process group up from the environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from .errors import UserError

# flags consumed by the launcher (with their value); the workers get the rest of the argv
LAUNCH_FLAGS = ("--nproc", "--nnodes", "--node-rank", "--rdzv-endpoint", "--launcher",
                "--partition", "--gpus-per-node", "--slurm-time", "--slurm-folder",
                "--slurm-account")
LAUNCH_SWITCHES = ("--slurm-wait",)  # launcher flags without a value


def inside_launcher() -> bool:
    """True in a process started by torchrun or by a SLURM/submitit job with several tasks."""
    if "LOCAL_RANK" in os.environ and "WORLD_SIZE" in os.environ:
        return True
    return "SUBMITIT_EXECUTOR" in os.environ or int(os.environ.get("SLURM_NTASKS", "1")) > 1


def worker_argv(argv: list[str]) -> list[str]:
    """``argv`` without the launcher's own flags."""
    out, skip = [], False
    for tok in argv:
        if skip:
            skip = False
            continue
        name = tok.split("=", 1)[0]
        if name in LAUNCH_SWITCHES:
            continue
        if name in LAUNCH_FLAGS:
            skip = "=" not in tok
            continue
        out.append(tok)
    return out


def torchrun_command(argv: list[str], nproc: int, nnodes: int = 1,
                     rdzv_endpoint: str | None = None, node_rank: int | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}"]
    if nnodes == 1:
        cmd.append("--standalone")
    else:
        if not rdzv_endpoint:
            raise UserError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT (the same on every node)")
        cmd += [f"--nnodes={nnodes}", "--rdzv_backend=c10d", f"--rdzv_endpoint={rdzv_endpoint}",
                f"--rdzv_id={os.environ.get('REPRODUCERS_RDZV_ID', 'reproducers')}"]
        if node_rank is not None:
            cmd.append(f"--node_rank={node_rank}")
    return cmd + ["-m", "reproducers", *worker_argv(argv)]


def run_torchrun(argv: list[str], nproc: int, nnodes: int, rdzv_endpoint: str | None,
                 node_rank: int | None, log) -> int:
    cmd = torchrun_command(argv, nproc, nnodes, rdzv_endpoint, node_rank)
    log("launching: " + " ".join(cmd))
    return subprocess.call(cmd)


def submit_slurm(task: Callable, request, *, nodes: int, gpus_per_node: int,
                 partition: str | None, time_min: int, folder: Path, account: str | None, log,
                 wait: bool = False) -> int:
    """Submit ``task(request)`` as one SLURM job of ``nodes`` x ``gpus_per_node`` tasks (one
    per GPU); ``task`` is ``harness.run.slurm_task``, the CLI's own run path.

    submitit's AutoExecutor falls back to its local executor where there is no SLURM (the
    tasks then run as local processes), which is how this path is tested on CPU. With
    ``wait`` the call blocks until the job ends and returns its exit status."""
    try:
        import submitit
    except ImportError:
        raise UserError("--launcher slurm needs submitit: pip install submitit") from None
    executor = submitit.AutoExecutor(folder=str(folder))
    params = {"nodes": nodes, "tasks_per_node": gpus_per_node, "gpus_per_node": gpus_per_node,
              "timeout_min": time_min, "name": f"reproducers-{uuid.uuid4().hex[:6]}"}
    if partition:
        params["slurm_partition"] = partition
    if account:
        params["slurm_account"] = account
    executor.update_parameters(**params)
    job = executor.submit(task, request)
    log(f"submitted {executor.cluster} job {job.job_id} ({nodes} node(s) x {gpus_per_node} "
        f"task(s)); logs in {folder}; re-submit with --resume auto after a preemption")
    if not wait:
        return 0
    try:
        job.results()
    except Exception as exc:  # submitit re-raises the task's failure
        log(f"job {job.job_id} failed: {str(exc).splitlines()[-1] if str(exc) else exc}")
        return 1
    return 0
