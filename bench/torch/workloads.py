"""Real PyTorch workloads (torchvision and transformers models with random weights; nothing is
downloaded), defined once for record_traces.py (allocation traces) and harness.py (allocators
side by side).

A workload is a builder ``build(torch, device, rng) -> step``: it makes the models and state on
the device and returns ``step(i)``, which runs iteration ``i``. Shapes that vary come from `rng`
(a ``random.Random``), weights from PyTorch's generator (seed it with ``torch.manual_seed``), so a
seed gives every allocator the same requests.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple

Step = Callable[[int], None]


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    iterations: int        # a full run, and what the recorded traces hold
    quick_iterations: int  # the harness's --quick
    build: Callable[[Any, Any, Any], Step]


WORKLOADS: Dict[str, Workload] = {}

# The harness's default set: the six kinds of workload of issue 16, then the harness's own.
HARNESS_WORKLOADS: Tuple[str, ...] = (
    "resnet50_repeated",            # repeated fixed-shape inference
    "detector_varying_resolution",  # a detector on frames of varying resolution
    "encoder_varying_seqlen",       # an encoder on varying sequence lengths
    "llm_serving_varied",           # LLM generation with varied prompt and output lengths
    "amp_finetune_varying_batch",   # AMP fine-tuning with a varying batch
    "two_models_two_streams",       # two models on two streams
    "camera_preprocess_classify",   # a per-frame camera loop (this harness's own)
)


def workload(description: str, *, iterations: int, quick: int):
    def register(build: Callable[[Any, Any, Any], Step]) -> Callable[[Any, Any, Any], Step]:
        WORKLOADS[build.__name__] = Workload(build.__name__, description, iterations, quick, build)
        return build
    return register


def run(name: str, torch: Any, device: Any, rng: Any, iterations: Optional[int] = None) -> int:
    """Builds workload `name` and runs its iterations; returns how many ran."""
    w = WORKLOADS[name]
    n = w.iterations if iterations is None else iterations
    step = w.build(torch, device, rng)
    for i in range(n):
        step(i)
    return n


# --- workloads ------------------------------------------------------------------------------------

@workload("ResNet-50, batch 8, fp16: the same inference pass repeated on new inputs (fixed shapes)",
          iterations=50, quick=12)
def resnet50_repeated(torch, dev, rng):
    import torchvision
    m = torchvision.models.resnet50(weights=None).to(dev).half().eval()

    def step(i):
        with torch.inference_mode():
            m(torch.rand(8, 3, 224, 224, device=dev, dtype=torch.half)).argmax(-1)
    return step


@workload("Faster R-CNN (MobileNetV3-FPN) on frames of 6 resolutions, fp32", iterations=12, quick=6)
def detector_varying_resolution(torch, dev, rng):
    import torchvision
    m = torchvision.models.detection.fasterrcnn_mobilenet_v3_large_fpn(
        weights=None, weights_backbone=None).to(dev).eval()
    sizes = [(480, 640), (720, 1280), (360, 640), (1080, 1920), (600, 800), (768, 1024)]

    def step(i):
        h, w = rng.choice(sizes)
        with torch.inference_mode():
            m([torch.rand(3, h, w, device=dev)])
    return step


@workload("BERT-base encoder, batch 8, random sequence lengths 16-512, fp16", iterations=16, quick=8)
def encoder_varying_seqlen(torch, dev, rng):
    from transformers import BertConfig, BertModel
    m = BertModel(BertConfig()).to(dev).half().eval()

    def step(i):
        n = rng.randint(16, 512)
        with torch.inference_mode():
            ids = torch.randint(0, 30000, (8, n), device=dev)
            m(input_ids=ids, attention_mask=torch.ones_like(ids))
    return step


def _gpt2(torch, dev, layers=12):
    from transformers import GPT2Config, GPT2LMHeadModel
    return GPT2LMHeadModel(GPT2Config(n_layer=layers)).to(dev).half().eval()


def _generate(torch, m, dev, batch, prompt, new):
    with torch.inference_mode():
        ids = torch.randint(0, 50000, (batch, prompt), device=dev)
        m.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=new, min_new_tokens=new,
                   do_sample=False, pad_token_id=0, eos_token_id=None)


@workload("GPT-2 generation serving varied requests (batch 1-4, prompt 8-200, 16-96 new tokens), fp16",
          iterations=10, quick=3)
def llm_serving_varied(torch, dev, rng):
    m = _gpt2(torch, dev)

    def step(i):
        _generate(torch, m, dev, rng.randint(1, 4), rng.randint(8, 200), rng.randint(16, 96))
    return step


@workload("GPT-2 generation, batch 4, prompt 32, 128 new tokens per request, fp16 (KV cache grown by "
          "concatenation)", iterations=2, quick=1)
def gpt2_generate_b4_n128(torch, dev, rng):
    m = _gpt2(torch, dev)
    return lambda i: _generate(torch, m, dev, 4, 32, 128)


@workload("GPT-2 generation, batch 1, prompt 16, 64 new tokens per request, fp16", iterations=2, quick=1)
def gpt2_generate_b1_n64(torch, dev, rng):
    m = _gpt2(torch, dev)
    return lambda i: _generate(torch, m, dev, 1, 16, 64)


@workload("GPT-2 generation, batch 8, prompt 64, 96 new tokens, 1 request, fp16", iterations=1, quick=1)
def gpt2_generate_b8_n96(torch, dev, rng):
    m = _gpt2(torch, dev)
    return lambda i: _generate(torch, m, dev, 8, 64, 96)


@workload("SSDlite detector on a frame, then ResNet-18 on 1-16 crops of it, fp32", iterations=16, quick=8)
def detector_classifier_crops(torch, dev, rng):
    import torchvision
    det = torchvision.models.detection.ssdlite320_mobilenet_v3_large(
        weights=None, weights_backbone=None).to(dev).eval()
    cls = torchvision.models.resnet18(weights=None).to(dev).eval()

    def step(i):
        with torch.inference_mode():
            frame = torch.rand(3, 480, 640, device=dev)
            det([frame])
            n = rng.randint(1, 16)
            crops = torch.nn.functional.interpolate(frame[None].expand(n, -1, -1, -1)[:, :, :200, :200],
                                                    size=(224, 224))
            cls(crops).softmax(-1)
    return step


@workload("AMP fine-tuning of ResNet-18 with AdamW, steps at random batch 8-64", iterations=12, quick=6)
def amp_finetune_varying_batch(torch, dev, rng):
    import torchvision
    m = torchvision.models.resnet18(weights=None, num_classes=10).to(dev).train()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler("cuda")

    def step(i):
        b = rng.randint(8, 64)
        x = torch.rand(b, 3, 224, 224, device=dev)
        y = torch.randint(0, 10, (b,), device=dev)
        with torch.autocast("cuda", dtype=torch.float16):
            loss = torch.nn.functional.cross_entropy(m(x), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
    return step


@workload("ResNet-50 and MobileNetV3 on two streams, interleaved iterations, batch 4, fp16",
          iterations=10, quick=6)
def two_models_two_streams(torch, dev, rng):
    import torchvision
    a = torchvision.models.resnet50(weights=None).to(dev).half().eval()
    b = torchvision.models.mobilenet_v3_large(weights=None).to(dev).half().eval()
    sa, sb = torch.cuda.Stream(), torch.cuda.Stream()

    def step(i):
        with torch.inference_mode():
            with torch.cuda.stream(sa):
                a(torch.rand(4, 3, 224, 224, device=dev, dtype=torch.half)).argmax(-1)
            with torch.cuda.stream(sb):
                b(torch.rand(4, 3, 224, 224, device=dev, dtype=torch.half)).argmax(-1)
    return step


@workload("SSDlite320 batch 8, repeated iterations, fp32", iterations=6, quick=3)
def ssdlite_b8_repeated(torch, dev, rng):
    import torchvision
    m = torchvision.models.detection.ssdlite320_mobilenet_v3_large(
        weights=None, weights_backbone=None).to(dev).eval()

    def step(i):
        with torch.inference_mode():
            m([torch.rand(3, 320, 320, device=dev) for _ in range(8)])
    return step


@workload("DeepLabV3 (MobileNetV3) segmentation, batch 1-8 and sides 256-640 varying, fp16",
          iterations=12, quick=6)
def segmentation_varying_batch(torch, dev, rng):
    import torchvision
    m = torchvision.models.segmentation.deeplabv3_mobilenet_v3_large(
        weights=None, weights_backbone=None).to(dev).half().eval()

    def step(i):
        b, s = rng.randint(1, 8), rng.choice([256, 384, 512, 640])
        with torch.inference_mode():
            m(torch.rand(b, 3, s, s, device=dev, dtype=torch.half))["out"].argmax(1)
    return step


@workload("Camera loop: a 1080p uint8 frame per step from pinned memory, resized and normalised on the GPU, "
          "EfficientNet-B0 (batch 1, fp16), top-5 back to the CPU every frame", iterations=200, quick=40)
def camera_preprocess_classify(torch, dev, rng):
    # What a Jetson camera pipeline does per frame: small, short-lived tensors and one host
    # synchronisation per frame, so the allocator's cost per call sits on the frame's critical path.
    import torchvision
    m = torchvision.models.efficientnet_b0(weights=None).to(dev).half().eval()
    mean = torch.tensor([0.485, 0.456, 0.406], device=dev, dtype=torch.half).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=dev, dtype=torch.half).view(1, 3, 1, 1)
    frame = torch.randint(0, 256, (1080, 1920, 3), dtype=torch.uint8).pin_memory()

    def step(i):
        with torch.inference_mode():
            f = frame.to(dev, non_blocking=True)
            x = f.permute(2, 0, 1).unsqueeze(0).half().div_(255)
            x = torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
            top = m((x - mean) / std).softmax(-1).topk(5)
            top.indices.cpu()
    return step
