"""How many intra-op threads torch runs a CPU model with: the policy decided at load, the count between calls.

Measured with `python -m bench.pressure --parts contention` (2-core VM, the default 6.8M model,
single-line p50 over 30 holes of argparse.py at 1,000 tokens, with 0 / 1 / 2 `while True: pass`
processes beside it; bench/results/pressure.summary.json): torch's own 2 threads 73 / 1,488 / 204 ms
(one busy process: 20x, as OpenMP's two threads wait at every barrier for the one that shares its
core); 1 thread 86 / 90 / 139 ms (idle 1.19x slower); OMP_WAIT_POLICY=PASSIVE 134 / 95 / 211 ms
(idle 1.8x); the count adapted to the cores other processes leave free 75 / 88 / 143 ms: idle as
fast as torch's own (1.03x), 1.18x and 1.9x its idle beside one and two busy processes.

So on the CPU the count follows the free cores (`Threads.settle`, before each infill): the cores minus
what other processes used over the last WINDOW_S or more (/proc/stat less this process's own time; the
first call judges the stretch since its model began to load, if FIRST_WINDOW_S or more), never above the
count torch had at load nor the CPUs a container's cgroup quota allows (torch counts the host's cores
there), never below one. Not per step: a call keeps its count. A user's choice is left alone:
OMP_NUM_THREADS or MKL_NUM_THREADS in the environment, a count set with torch.set_num_threads that torch
does not pick by itself, or any change of the count after load by someone else (from then on the engine
never sets it again). Completions do not change with the count (texts equal across the policies above,
on those 30 holes).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

USER_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")
WINDOW_S = 0.25  # the shortest stretch of CPU time the free cores are judged over
FIRST_WINDOW_S = 0.08  # the first call's: since the load began (a model loads in ~0.1 s; one busy core shows)
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_times() -> tuple[int, int] | None:
    """(all, idle) clock ticks of all CPUs since boot (/proc/stat), or None where there is none."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
    except (OSError, ValueError):
        return None
    return sum(ticks), ticks[3] + ticks[4]


def _own_ticks() -> float:
    t = os.times()
    return (t.user + t.system) * _CLK_TCK


def torch_would_pick() -> set[int]:
    """The counts torch may pick by itself here: the logical cores, those this process may use, the
    physical cores (/proc/cpuinfo)."""
    picks = {os.cpu_count() or 1}
    if hasattr(os, "sched_getaffinity"):
        picks.add(len(os.sched_getaffinity(0)))
    try:
        cores, package = set(), ""
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("physical id"):
                package = line.split(":", 1)[1].strip()
            elif line.startswith("core id"):
                cores.add((package, line.split(":", 1)[1].strip()))
        picks |= {len(cores)} if cores else set()
    except OSError:
        pass
    return picks


def quota_cpus(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The CPUs a cgroup CPU quota allows this process (a container's `--cpus`), rounded up; None
    without a quota. cgroup v2 `cpu.max` ("200000 100000"), else v1 `cpu.cfs_quota_us` / `cpu.cfs_period_us`."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    try:
        quota_us, period_us = int(quota), int(period)
    except ValueError:  # "max": no quota
        return None
    return max(1, -(-quota_us // period_us)) if quota_us > 0 and period_us > 0 else None


def free_cores(all_ticks: float, idle_ticks: float, own_ticks: float, cpus: int) -> float:
    """The cores other processes left free over a stretch of `all_ticks` CPU ticks (all CPUs together), of
    which `idle_ticks` were idle and `own_ticks` this process's."""
    others = max(all_ticks - idle_ticks - own_ticks, 0)
    return cpus * (1 - others / all_ticks) if all_ticks > 0 else cpus


def user_chose() -> bool:
    """Whether the user set torch's thread count (environment, or torch.set_num_threads to a count
    torch does not pick by itself)."""
    return any(os.environ.get(k) for k in USER_ENV) or torch.get_num_threads() not in torch_would_pick()


class Threads:
    """torch's intra-op thread count for one loaded model: "adaptive" (follows the free cores) or
    "fixed" (left as it is: a GPU model, the user's choice, or no /proc/stat)."""

    def __init__(self, policy: str = "fixed") -> None:
        self.policy = policy
        self.most = self.current = torch.get_num_threads()
        usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else self.most
        self._cpus = min(usable, quota_cpus() or usable)  # a container's quota: /proc/stat shows the host's cores
        self._last: tuple[int, int, float] | None = self._sample() if policy == "adaptive" else None
        self._decided = False

    @staticmethod
    def _sample() -> tuple[int, int, float] | None:
        now = _cpu_times()
        return None if now is None else (*now, _own_ticks())

    def settle(self) -> int:
        """Before an infill: the count for it, set in torch when adapting; the count in force."""
        if self.policy != "adaptive":
            return torch.get_num_threads()
        if torch.get_num_threads() != self.current:  # someone else set it: theirs from now on
            self.policy = "fixed"
            return torch.get_num_threads()
        sample = self._sample()
        if sample is None:
            return self.current
        last = self._last
        window = (WINDOW_S if self._decided else FIRST_WINDOW_S) * _CLK_TCK * (os.cpu_count() or 1)
        if last is None or sample[0] - last[0] >= window:
            if last is not None:
                free = free_cores(*(a - b for a, b in zip(sample, last)), os.cpu_count() or 1)
                count = max(1, min(self.most, self._cpus, int(free + 0.5)))
                if count != self.current:
                    torch.set_num_threads(count)
                    self.current = count
                self._decided = True
            self._last = sample
        return self.current

    @property
    def info(self) -> dict:
        return {"threads": self.current if self.policy == "adaptive" else torch.get_num_threads(),
                "thread_policy": self.policy}


def choose(device: torch.device) -> Threads:
    """The policy for a model on `device`, decided once at load: adaptive on the CPU unless the user
    chose (see the module docstring), else fixed."""
    adaptive = device.type == "cpu" and not user_chose() and _cpu_times() is not None
    return Threads("adaptive" if adaptive else "fixed")
