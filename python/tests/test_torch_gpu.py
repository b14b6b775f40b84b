"""unimem as PyTorch's CUDA allocator, on a GPU. An allocator can be installed once per process, so
each case runs in a fresh interpreter; the parent checks its output, its exit status and that
nothing was reported at exit (no leak report, no failed free). Skipped with the reason where
PyTorch or a GPU is missing; failing instead under UNIMEM_REQUIRE_GPU=1."""
from __future__ import annotations

import json

import pytest

from conftest import run_python


def _stats_line(stdout: str, tag: str = "STATS") -> dict:
    for line in stdout.splitlines():
        if line.startswith(tag + " "):
            return json.loads(line[len(tag) + 1:])
    raise AssertionError(f"no {tag} line in the child's output:\n{stdout}")


def _check_clean_exit(done) -> None:
    assert done.returncode == 0, f"exit status {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert "destroyed with" not in done.stderr, f"a pool reported leaks at exit:\n{done.stderr}"
    assert "unimem_torch: free(" not in done.stderr, f"a free failed:\n{done.stderr}"


END_TO_END = r'''
import json, threading
import unimem, unimem.torch as ut
config = ut.use_unimem_allocator(budget="16GiB", verbose=True)
import torch
assert config["budget"] == 16 << 30, config

# Tensors and cuBLAS: the numbers are PyTorch's own.
x = torch.randn(1024, 1024, device="cuda")
y = x @ x
torch.cuda.synchronize()
s = ut.memory_stats()
assert s["has_pool"] and s["upstream_kind"] == "device", s
assert s["allocations"] >= 2 and s["requested_bytes"] >= 8 << 20, s
assert s["reserved_bytes"] >= s["requested_bytes"] and s["peak_reserved_bytes"] >= s["reserved_bytes"], s
assert torch.allclose(y.cpu(), x.cpu() @ x.cpu(), rtol=1e-3, atol=1e-2)
held = s["requested_bytes"]
del x, y
torch.cuda.synchronize()
assert ut.memory_stats()["requested_bytes"] < held

# A model: the same output as on the CPU.
try:
    import torchvision
except ImportError:
    torchvision = None
if torchvision is not None:
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(0)
    m = torchvision.models.resnet18(weights=None).eval()
    inp = torch.rand(2, 3, 64, 64)
    with torch.inference_mode():
        ref = m(inp)
        out = m.cuda()(inp.cuda()).cpu()
    assert torch.allclose(ref, out, rtol=1e-3, atol=1e-3), float((ref - out).abs().max())
    print("MODEL ok")

# Autograd's backward runs on its own thread.
w = torch.randn(512, 512, device="cuda", requires_grad=True)
(w @ w).square().mean().backward()
assert w.grad is not None and bool(torch.isfinite(w.grad).all())

# Several threads, each on its own stream.
errors = []
def work(i):
    try:
        s = torch.cuda.Stream()
        with torch.cuda.stream(s):
            for k in range(50):
                a = torch.full((256, 1024 + k), float(i), device="cuda")
                total = (a * 2).sum().item()
                assert total == 2.0 * i * 256 * (1024 + k), (i, k, total)
    except Exception as e:
        errors.append(repr(e))
threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
assert not errors, errors

# A zero-copy unimem tensor next to the allocator.
f = unimem.empty((4, 4), "float32", kind="mapped")
g = torch.from_dlpack(f)
torch.add(torch.ones(4, 4, device="cuda"), 0.0, out=g)
torch.cuda.synchronize()
assert torch.from_dlpack(f.cpu_view()).sum().item() == 16.0

assert ut.empty_cache() >= 0
# Left alive on purpose: PyTorch frees these (and its cuBLAS workspace) while the process exits.
KEEP = [torch.ones(1 << 20, device="cuda") for _ in range(3)]
print("STATS", json.dumps(ut.memory_stats()))
'''


def test_pytorch_runs_on_unimems_pool_and_exits_cleanly(torch_gpu) -> None:
    done = run_python(END_TO_END)
    _check_clean_exit(done)
    stats = _stats_line(done.stdout)
    assert stats["allocations"] > 100 and stats["deallocations"] > 0, stats
    assert stats["failed_allocations"] == 0 and stats["failed_deallocations"] == 0, stats
    assert "PyTorch's allocator, device 0: pool over device memory" in done.stderr, done.stderr


def test_installing_after_cuda_started_is_refused_with_the_fix(torch_gpu) -> None:
    done = run_python(r'''
import torch
torch.zeros(1, device="cuda")
import unimem.torch as ut
try:
    ut.use_unimem_allocator()
except RuntimeError as e:
    print("REFUSED", e)
''')
    _check_clean_exit(done)
    assert "REFUSED" in done.stdout and "must run before PyTorch's first CUDA allocation" in done.stdout, done.stdout


def test_the_budget_turns_into_an_out_of_memory_error_that_names_it(torch_gpu) -> None:
    done = run_python(r'''
import json
import unimem.torch as ut
ut.use_unimem_allocator(budget="256MiB")
import torch
a = torch.empty(64 << 20, dtype=torch.uint8, device="cuda")
try:
    b = torch.empty(512 << 20, dtype=torch.uint8, device="cuda")
except (RuntimeError, MemoryError) as e:
    print("OOM", type(e).__name__, " ".join(str(e).split())[:800])
else:
    print("NO-OOM")
c = torch.empty(16 << 20, dtype=torch.uint8, device="cuda")  # the pool still serves
c.fill_(1)
assert int(c.sum()) == 16 << 20
print("STATS", json.dumps(ut.memory_stats()))
''')
    _check_clean_exit(done)
    assert "OOM" in done.stdout, done.stdout
    assert "UNIMEM_TORCH_BUDGET" in done.stdout, done.stdout
    stats = _stats_line(done.stdout)
    assert stats["failed_allocations"] >= 1 and stats["budget_limit"] == 256 << 20, stats
    assert stats["budget_peak"] <= 256 << 20 and stats["peak_reserved_bytes"] <= 256 << 20, stats


def test_the_environment_configures_it_and_a_typo_is_an_error(torch_gpu) -> None:
    done = run_python(r'''
import json
import unimem.torch as ut
ut.use_unimem_allocator()
import torch
x = torch.arange(1000, device="cuda", dtype=torch.float32)
assert x.sum().item() == 499500.0
print("STATS", json.dumps(ut.memory_stats()))
''', {"UNIMEM_TORCH_UPSTREAM": "managed", "UNIMEM_TORCH_GROWTH_STEP": "4MiB"})
    _check_clean_exit(done)
    assert _stats_line(done.stdout)["upstream_kind"] == "managed"

    typo = run_python(r'''
import unimem.torch as ut
try:
    ut.use_unimem_allocator()
except ValueError as e:
    print("REFUSED", e)
''', {"UNIMEM_TORCH_BUGDET": "1G"})
    _check_clean_exit(typo)
    assert "REFUSED" in typo.stdout and "UNIMEM_TORCH_BUGDET=1G" in typo.stdout, typo.stdout


def test_each_device_gets_its_own_pool(torch_gpu) -> None:
    if torch_gpu.cuda.device_count() < 2:
        pytest.skip("needs two CUDA devices")  # not a missing GPU: a one-GPU machine passes the rest
    done = run_python(r'''
import json
import unimem.torch as ut
ut.use_unimem_allocator()
import torch
a = torch.ones(1000, device="cuda:0")
b = torch.ones(1000, device="cuda:1")
torch.cuda.set_device(0)
c = b * 2                 # runs on device 1
assert c.device.index == 1 and c.sum().item() == 2000.0
del b, c                  # freed while device 0 is current
torch.cuda.synchronize(1)
stats = ut.memory_stats_all()
print("STATS", json.dumps({str(k): v for k, v in stats.items()}))
''')
    _check_clean_exit(done)
    stats = _stats_line(done.stdout)
    assert set(stats) == {"0", "1"}, stats
    assert stats["1"]["deallocations"] >= 2, stats
