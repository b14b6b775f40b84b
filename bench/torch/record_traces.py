#!/usr/bin/env python3
"""Records allocation traces of real PyTorch workloads in unimem's trace format.

Each workload runs in a fresh process on one CUDA device with PyTorch's own allocator and
``torch.cuda.memory._record_memory_history``; the snapshot's device trace becomes
``op,id,bytes,stream`` (BRIEF section 5): ``a`` on every allocation, ``f`` when the tensor is freed
(``free_requested``: the moment the program lets go, which is what an allocator sees), streams
numbered 0 (default) and up in order of first use. Allocations still live at the end (weights,
optimizer state, caches) stay unfreed in the trace, as the format allows.

Models come from torchvision and transformers with random weights (nothing is downloaded).

    python3 bench/torch/record_traces.py --out DIR [--only NAME ...] [--list]

Writes DIR/NAME.csv.gz per workload and DIR/NAME.json (peak allocated, iterations, wall time).
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import time

WORKLOADS: dict[str, str] = {}


def workload(description: str):
    def register(fn):
        WORKLOADS[fn.__name__] = description
        return fn
    return register


# --- workloads (each gets torch and the device; returns the number of iterations) ---------------

@workload("Faster R-CNN (MobileNetV3-FPN) on 12 frames of 6 resolutions, fp32")
def detector_varying_resolution(torch, dev, rng):
    import torchvision
    m = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_fpn(
        weights=None, weights_backbone=None).to(dev).eval()
    sizes = [(480, 640), (720, 1280), (360, 640), (1080, 1920), (600, 800), (768, 1024)]
    with torch.inference_mode():
        for _ in range(12):
            h, w = rng.choice(sizes)
            m([torch.rand(3, h, w, device=dev)])
    return 12


@workload("BERT-base encoder, batch 8, 16 random sequence lengths 16-512, fp16")
def encoder_varying_seqlen(torch, dev, rng):
    from transformers import BertConfig, BertModel
    m = BertModel(BertConfig()).to(dev).half().eval()
    with torch.inference_mode():
        for _ in range(16):
            n = rng.randint(16, 512)
            ids = torch.randint(0, 30000, (8, n), device=dev)
            m(input_ids=ids, attention_mask=torch.ones_like(ids))
    return 16


def _gpt2(torch, dev, layers=12):
    from transformers import GPT2Config, GPT2LMHeadModel
    cfg = GPT2Config(n_layer=layers)
    return GPT2LMHeadModel(cfg).to(dev).half().eval()


def _generate(torch, m, dev, batch, prompt, new):
    ids = torch.randint(0, 50000, (batch, prompt), device=dev)
    m.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new, min_new_tokens=new,
               do_sample=False, pad_token_id=0, eos_token_id=None)


@workload("GPT-2 generation serving 10 varied requests (batch 1-4, prompt 8-200, 16-96 new tokens), fp16")
def llm_serving_varied(torch, dev, rng):
    m = _gpt2(torch, dev)
    with torch.inference_mode():
        for _ in range(10):
            _generate(torch, m, dev, rng.randint(1, 4), rng.randint(8, 200), rng.randint(16, 96))
    return 10


@workload("GPT-2 generation, batch 4, prompt 32, 128 new tokens, 2 requests, fp16 (KV cache grown by concatenation)")
def gpt2_generate_b4_n128(torch, dev, rng):
    m = _gpt2(torch, dev)
    with torch.inference_mode():
        for _ in range(2):
            _generate(torch, m, dev, 4, 32, 128)
    return 2


@workload("GPT-2 generation, batch 1, prompt 16, 64 new tokens, 2 requests, fp16")
def gpt2_generate_b1_n64(torch, dev, rng):
    m = _gpt2(torch, dev)
    with torch.inference_mode():
        for _ in range(2):
            _generate(torch, m, dev, 1, 16, 64)
    return 2


@workload("GPT-2 generation, batch 8, prompt 64, 96 new tokens, 1 request, fp16")
def gpt2_generate_b8_n96(torch, dev, rng):
    m = _gpt2(torch, dev)
    with torch.inference_mode():
        _generate(torch, m, dev, 8, 64, 96)
    return 1


@workload("SSDlite detector on 16 frames, then ResNet-18 on 1-16 crops of each, fp32")
def detector_classifier_crops(torch, dev, rng):
    import torchvision
    det = torchvision.models.detection.ssdlite320_mobilenet_v3_large(
        weights=None, weights_backbone=None).to(dev).eval()
    cls = torchvision.models.resnet18(weights=None).to(dev).eval()
    with torch.inference_mode():
        for _ in range(16):
            frame = torch.rand(3, 480, 640, device=dev)
            det([frame])
            n = rng.randint(1, 16)
            crops = torch.nn.functional.interpolate(frame[None].expand(n, -1, -1, -1)[:, :, :200, :200],
                                                    size=(224, 224))
            cls(crops).softmax(-1)
    return 16


@workload("AMP fine-tuning of ResNet-18 with AdamW, 12 steps at random batch 8-64")
def amp_finetune_varying_batch(torch, dev, rng):
    import torchvision
    m = torchvision.models.resnet18(weights=None, num_classes=10).to(dev).train()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler("cuda")
    for _ in range(12):
        b = rng.randint(8, 64)
        x = torch.rand(b, 3, 224, 224, device=dev)
        y = torch.randint(0, 10, (b,), device=dev)
        with torch.autocast("cuda", dtype=torch.float16):
            loss = torch.nn.functional.cross_entropy(m(x), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    return 12


@workload("ResNet-50 and MobileNetV3 on two streams, 10 interleaved iterations each, batch 4, fp16")
def two_models_two_streams(torch, dev, rng):
    import torchvision
    a = torchvision.models.resnet50(weights=None).to(dev).half().eval()
    b = torchvision.models.mobilenet_v3_large(weights=None).to(dev).half().eval()
    sa, sb = torch.cuda.Stream(), torch.cuda.Stream()
    with torch.inference_mode():
        for _ in range(10):
            with torch.cuda.stream(sa):
                a(torch.rand(4, 3, 224, 224, device=dev, dtype=torch.half)).argmax(-1)
            with torch.cuda.stream(sb):
                b(torch.rand(4, 3, 224, 224, device=dev, dtype=torch.half)).argmax(-1)
    torch.cuda.synchronize()
    return 10


@workload("SSDlite320 batch 8, 6 repeated iterations, fp32")
def ssdlite_b8_repeated(torch, dev, rng):
    import torchvision
    m = torchvision.models.detection.ssdlite320_mobilenet_v3_large(
        weights=None, weights_backbone=None).to(dev).eval()
    with torch.inference_mode():
        for _ in range(6):
            m([torch.rand(3, 320, 320, device=dev) for _ in range(8)])
    return 6


@workload("DeepLabV3 (MobileNetV3) segmentation, batch 1-8 and sides 256-640 varying, fp16")
def segmentation_varying_batch(torch, dev, rng):
    import torchvision
    m = torchvision.models.segmentation.deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None).to(dev).half().eval()
    with torch.inference_mode():
        for _ in range(12):
            b, s = rng.randint(1, 8), rng.choice([256, 384, 512, 640])
            m(torch.rand(b, 3, s, s, device=dev, dtype=torch.half))["out"].argmax(1)
    return 12


# --- recording ----------------------------------------------------------------------------------

def snapshot_to_trace(snapshot, device_index):
    """The device trace as (op, id, bytes, stream) rows: ids per allocation, streams renumbered."""
    events = snapshot["device_traces"][device_index]
    live = {}          # address -> (id, bytes, stream)
    streams = {0: 0}
    rows, next_id = [], 0
    for e in events:
        action = e["action"]
        if action == "alloc":
            s = streams.setdefault(e["stream"], len(streams))
            live[e["addr"]] = (next_id, e["size"], s)
            rows.append(("a", next_id, e["size"], s))
            next_id += 1
        elif action == "free_requested":
            entry = live.pop(e["addr"], None)
            if entry is not None:   # allocated before recording started: not in the trace
                rows.append(("f", entry[0], entry[1], entry[2]))
    return rows


def record_one(name, out_dir, seed):
    import torch
    rng = random.Random(seed)
    torch.manual_seed(seed)
    dev = torch.device("cuda", 0)
    torch.cuda.init()
    torch.cuda.memory._record_memory_history(max_entries=5_000_000, context=None, stacks="python")
    t0 = time.perf_counter()
    iterations = globals()[name](torch, dev, rng)
    torch.cuda.synchronize()
    wall = time.perf_counter() - t0
    snap = torch.cuda.memory._snapshot()
    torch.cuda.memory._record_memory_history(enabled=None)
    rows = snapshot_to_trace(snap, 0)
    path = os.path.join(out_dir, f"{name}.csv.gz")
    with gzip.open(path, "wt", compresslevel=9) as f:
        f.write("op,id,bytes,stream\n")
        f.writelines(f"{op},{i},{b},{s}\n" for op, i, b, s in rows)
    meta = {
        "workload": name, "description": WORKLOADS[name], "iterations": iterations, "seed": seed,
        "ops": len(rows), "streams": 1 + max((r[3] for r in rows), default=0),
        "torch_peak_allocated_bytes": torch.cuda.max_memory_allocated(),
        "torch_peak_reserved_bytes": torch.cuda.max_memory_reserved(),
        "wall_s": round(wall, 3), "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0),
    }
    with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"{name}: {len(rows)} ops, {meta['streams']} streams, peak allocated "
          f"{meta['torch_peak_allocated_bytes'] / 2**20:.1f} MiB, {wall:.1f} s", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="folder for NAME.csv.gz and NAME.json")
    ap.add_argument("--only", nargs="*", help="workload names (default: all)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--list", action="store_true", help="list the workloads and exit")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.list:
        for n, d in WORKLOADS.items():
            print(f"{n:32s} {d}")
        return 0
    if not args.out:
        ap.error("--out DIR is required (the folder the traces are written to)")
    os.makedirs(args.out, exist_ok=True)
    if args.child:
        record_one(args.child, args.out, args.seed)
        return 0
    names = args.only or list(WORKLOADS)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        ap.error(f"unknown workload(s) {unknown}; --list shows the names")
    failed = []
    for n in names:
        # One process per workload: nothing of one (cached blocks, weights) reaches the next.
        rc = subprocess.call([sys.executable, __file__, "--out", args.out, "--seed", str(args.seed),
                              "--child", n])
        if rc != 0:
            failed.append(n)
    if failed:
        print(f"failed: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
