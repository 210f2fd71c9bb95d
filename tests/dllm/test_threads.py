"""The CPU thread policy (`dllm/threads.py`): a user's choice is kept; otherwise the count follows the free cores."""

import pytest
import torch

from dllm_complete import dllm
from dllm_complete.dllm import threads


@pytest.fixture(autouse=True)
def keep_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture()
def unset(monkeypatch):
    for name in threads.USER_ENV:
        monkeypatch.delenv(name, raising=False)
    torch.set_num_threads(max(threads.torch_would_pick()))  # as torch leaves it by itself


@pytest.mark.parametrize("name", threads.USER_ENV)
def test_an_environment_setting_is_the_users_choice(unset, monkeypatch, name):
    assert not threads.user_chose()
    monkeypatch.setenv(name, "1")
    assert threads.user_chose() and threads.choose(torch.device("cpu")).policy == "fixed"


def test_a_count_torch_would_not_pick_is_the_users_choice(unset):
    torch.set_num_threads(max(threads.torch_would_pick()) + 1)
    assert threads.user_chose()
    pol = threads.choose(torch.device("cpu"))
    assert pol.policy == "fixed" and pol.settle() == max(threads.torch_would_pick()) + 1  # never touched


def test_gpu_models_keep_torch_threads(unset):
    assert threads.choose(torch.device("cuda")).policy == "fixed"


def test_free_cores():
    assert threads.free_cores(200, 150, 50, 2) == 2  # only we were busy
    assert threads.free_cores(200, 0, 100, 2) == 1  # another process held one core
    assert threads.free_cores(200, 0, 0, 2) == 0  # others held both
    assert threads.free_cores(0, 0, 0, 4) == 4


@pytest.mark.parametrize("files, cpus", [
    ({"cpu.max": "200000 100000\n"}, 2), ({"cpu.max": "150000 100000\n"}, 2), ({"cpu.max": "max 100000\n"}, None),
    ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 1),
    ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None), ({}, None),
], ids=["v2 two", "v2 one and a half", "v2 none", "v1 half", "v1 none", "no cgroup"])
def test_a_containers_cpu_quota_is_read_from_its_cgroup(tmp_path, files, cpus):
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert threads.quota_cpus(tmp_path) == cpus


def test_a_quota_caps_the_adaptive_count(unset, monkeypatch):
    monkeypatch.setattr(threads, "quota_cpus", lambda: 1)
    assert threads.Threads("adaptive")._cpus == 1


def test_adaptive_count_follows_the_free_cores_and_stops_when_someone_else_sets_it(unset, monkeypatch):
    most = torch.get_num_threads()
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 2)
    # (all, idle) at load, then 0.1 s on 2 cores, 0.1 s more, then another 1 s
    ticks = iter([(0, 0), (20, 0), (40, 0), (240, 150)])
    own = iter([0, 10, 20, 70])  # this process: one core, then a quarter of the time
    monkeypatch.setattr(threads, "_cpu_times", lambda: next(ticks))
    monkeypatch.setattr(threads, "_own_ticks", lambda: next(own))
    pol = threads.Threads("adaptive")
    pol.most, pol._cpus = 2, 2  # as on a 2-core machine
    # the load's look starts a window the first call judges: another process held the other core
    assert pol.settle() == 1 and torch.get_num_threads() == 1
    assert pol.settle() == 1  # later calls judge a longer stretch: 0.1 s is too short a window
    assert pol.settle() == 2 and torch.get_num_threads() == 2
    assert pol.info == {"threads": 2, "thread_policy": "adaptive"}
    torch.set_num_threads(1)  # a user's own setting after load
    assert pol.settle() == 1 and pol.policy == "fixed" and torch.get_num_threads() == 1


def test_loaded_engine_reports_its_threads(unset, tiny_dir):
    eng = dllm.load(str(tiny_dir))
    assert eng.info["thread_policy"] == "adaptive" and eng.info["threads"] >= 1
    eng.infill("x = ", "\n", mode="single", max_tokens=4)
    assert 1 <= eng.info["threads"] <= max(threads.torch_would_pick())
