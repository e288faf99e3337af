"""Peak memory of one benchmarked call, measured in a fresh process.

CPU: peak RSS above the RSS just before the call (Linux VmHWM reset through
/proc/self/clear_refs, else ru_maxrss); CUDA: ``max_memory_allocated`` above the allocation
before it. A child interpreter per method keeps one method's freed memory from hiding another's.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import torch

from explorer.bench.methods import make_method
from explorer.bench.spec import BenchSpec, make_inputs


def _current_rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _release_free_memory() -> None:
    """Give malloc's freed blocks back to the OS, so the call cannot reuse them unseen."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")  # resets VmHWM to the current RSS (Linux ≥ 4.0)
        return True
    except OSError:
        return False


def _peak_rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure_peak(spec: BenchSpec, name: str) -> int:
    """Peak bytes one call of ``name`` adds, in this process (run it in a fresh one).

    A call on a short input first maps the code the method runs (shared-library pages count in
    RSS) without leaving big freed blocks behind; then the peak is reset and the real call runs.
    """
    small = replace(spec, seq_len=min(spec.seq_len, 64))
    make_method(name, small, *make_inputs(small))()
    q, k, v, w = make_inputs(spec)
    fn = make_method(name, spec, q, k, v, w)
    if q.device.type == "cuda":
        torch.cuda.synchronize(q.device)
        torch.cuda.reset_peak_memory_stats(q.device)
        before = torch.cuda.memory_allocated(q.device)
        fn()
        torch.cuda.synchronize(q.device)
        return torch.cuda.max_memory_allocated(q.device) - before
    _release_free_memory()
    before = _current_rss()
    reset = _reset_peak_rss()
    fn()
    peak = _peak_rss() if reset else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return max(0, peak - before)


def peak_in_child(spec: BenchSpec, name: str, timeout: float = 900.0) -> int:
    """``measure_peak`` in a fresh interpreter (same torch thread count); ValueError on failure."""
    code = (
        "import json, sys, torch; from explorer.bench.memory import measure_peak; "
        "from explorer.bench.spec import BenchSpec; "
        "a = json.loads(sys.argv[1]); torch.set_num_threads(a['threads']); "
        "print(measure_peak(BenchSpec(**a['spec']), a['name']))"
    )
    payload = json.dumps({"spec": asdict(spec), "name": name, "threads": torch.get_num_threads()})
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", code, payload],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise ValueError(f"memory child for {name} failed: {last}")
    return int(done.stdout.strip().splitlines()[-1])
