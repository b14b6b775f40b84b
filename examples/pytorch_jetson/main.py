#!/usr/bin/env python3
"""PyTorch on a Jetson with unimem, in three steps:

1. unimem's pool becomes PyTorch's CUDA allocator (before the first CUDA tensor), with a budget;
2. a model runs on it;
3. camera frames land in zero-copy mapped memory: the CPU (the camera) writes a frame in place,
   and the model reads the same bytes as a CUDA tensor through DLPack, with no cudaMemcpy. On a
   Jetson the CPU and the GPU share the DRAM, so this is the frame's only copy; on a discrete GPU
   the kernel reads it across PCIe.

    PYTHONPATH=python UNIMEM_TORCH_LIBRARY=build/integrations/torch_allocator/libunimem_torch.so \\
        python3 examples/pytorch_jetson/main.py --frames 100

With a real camera, write each captured frame into `camera_view[b]` (e.g. a V4L2 or GStreamer
buffer copied there, or OpenCV's `cap.read(camera_view[b].numpy())`) instead of fake_camera().
"""
from __future__ import annotations

import argparse
import time

import unimem
import unimem.torch as ut


def fake_camera(view, i: int) -> None:
    """Stands in for a capture: the CPU writes a moving pattern into the frame, in place."""
    h = view.shape[0]
    view[:, :, 0] = (i * 3) % 256
    view[: h // 2, :, 1] = (i * 5) % 256
    view[h // 2 :, :, 2] = 255 - (i % 256)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--budget", default="2GiB", help="most bytes PyTorch's CUDA tensors may hold (per device)")
    args = ap.parse_args()

    # 1. Before any CUDA tensor exists.
    config = ut.use_unimem_allocator(budget=args.budget)
    import torch
    import torchvision

    # 2. A model on unimem's pool (random weights: nothing is downloaded).
    model = torchvision.models.mobilenet_v3_small(weights=None).cuda().half().eval()
    mean = torch.tensor([0.485, 0.456, 0.406], device="cuda", dtype=torch.half).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device="cuda", dtype=torch.half).view(1, 3, 1, 1)

    # 3. Two frame buffers in mapped memory, each seen twice without a copy: as a CPU tensor (the
    # camera's view) and as a CUDA tensor (the kernels' view).
    buffers = [unimem.empty((args.height, args.width, 3), "uint8", kind="mapped") for _ in range(2)]
    camera_view = [torch.from_dlpack(b.cpu_view()) for b in buffers]
    kernel_view = [torch.from_dlpack(b) for b in buffers]
    for c, k in zip(camera_view, kernel_view):
        assert c.data_ptr() == k.data_ptr() and k.is_cuda and c.device.type == "cpu"
    read = [torch.cuda.Event(), torch.cuda.Event()]  # per buffer: the kernels finished reading it

    classes = []
    start = time.perf_counter()
    for i in range(args.frames):
        b = i % 2
        read[b].synchronize()  # the kernels are done with this buffer's previous frame
        fake_camera(camera_view[b], i)
        with torch.inference_mode():
            x = kernel_view[b].permute(2, 0, 1).unsqueeze(0).half().div(255)  # reads the mapped frame
            read[b].record()
            x = torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
            classes.append(model((x - mean) / std).argmax(-1))
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - start

    stats = ut.memory_stats()
    mib = 1 << 20
    print(f"{args.frames} frames of {args.width}x{args.height} in {elapsed:.2f} s "
          f"({1e3 * elapsed / args.frames:.2f} ms per frame); last class {int(classes[-1])}")
    print(f"frames: {unimem.live_tensors()} mapped buffers of {buffers[0].nbytes / mib:.2f} MiB, each one "
          f"memory for the CPU and the GPU (pointer 0x{buffers[0].data_ptr:x})")
    print(f"unimem pool ({stats['upstream_kind']} memory, budget {config['budget'] / mib:.0f} MiB): "
          f"reserved {stats['reserved_bytes'] / mib:.1f} MiB (peak {stats['peak_reserved_bytes'] / mib:.1f}), "
          f"PyTorch holds {stats['requested_bytes'] / mib:.1f} MiB (peak {stats['peak_requested_bytes'] / mib:.1f}), "
          f"{stats['upstream_allocations']} cudaMalloc calls for {stats['allocations']} allocations, "
          f"{stats['plans_built']} iteration plans")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
