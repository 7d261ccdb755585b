"""Speed of the diffusion engine: full-size Stable Diffusion 1.5 UNet + ControlNet (+ VAE and CLIP
text encoder) with random weights built from configs (no download: the time of a step does not
depend on the weights), against plain diffusers' ``StableDiffusionControlNetPipeline`` doing the
same work (same models, scheduler, steps, classifier-free guidance).

    python benchmarks/diffusion_speed.py            # GPU if present: 512 px, 20 steps, fp16
    python benchmarks/diffusion_speed.py --device cpu   # 256 px, 2 steps, fp32

Printed: seconds per sampling run and per step for our sampler with one prompt, plain diffusers,
our overhead, our sampler with 3 instances (multi-instance sampling + attention guidance), the
VAE decode, and peak memory. ``--json PATH`` also writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

# SD 1.5's architecture (the configs of stable-diffusion-v1-5 and lllyasviel's ControlNets).
UNET = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280, 1280),
    "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
    "norm_num_groups": 32,
}
CONTROLNET = {
    "in_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (320, 640, 1280, 1280),
    "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
    "conditioning_embedding_out_channels": (16, 32, 96, 256),
}
VAE = {
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "block_out_channels": (128, 256, 512, 512),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "sample_size": 512,
    "scaling_factor": 0.18215,
}
TEXT = {
    "vocab_size": 49408,
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
}
SCHEDULER = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
}
PROMPT = "a red car, a blue house and a green tree"
LABELS = ["car: red", "house: blue", "tree: green"]


def _tokenizer(folder: Path):
    """A byte-level CLIP tokenizer (every byte a token; the speed does not depend on merges)."""
    from transformers import CLIPTokenizer

    keep = [*range(33, 127), *range(161, 173), *range(174, 256)]
    chars, extra = [], 0
    for b in range(256):
        chars.append(chr(b) if b in keep else chr(256 + extra))
        extra += b not in keep
    tokens = [*chars, *(c + "</w>" for c in chars), "<|startoftext|>", "<|endoftext|>"]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(tokens)}))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    (folder / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 77}))
    return CLIPTokenizer.from_pretrained(folder), len(tokens)


def build(device, dtype):
    """Random-weight SD 1.5 components as the engine's :class:`Components`."""
    import torch
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from polychrome.engines.diffusion.loading import Components

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer, n = _tokenizer(Path(tmp) / "tokenizer")
    text = CLIPTextConfig(**TEXT, bos_token_id=n - 2, eos_token_id=n - 1, pad_token_id=n - 1)
    models = [
        UNet2DConditionModel(**UNET),
        ControlNetModel(**CONTROLNET),
        AutoencoderKL(**VAE),
        CLIPTextModel(text),
    ]
    for m in models:
        m.to(device, dtype).eval().requires_grad_(False)
    unet, controlnet, vae, text_encoder = models
    return Components(unet, controlnet, vae, text_encoder, tokenizer, SCHEDULER, device, dtype)


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, device, repeats: int) -> float:
    """Best of ``repeats`` wall times (the machine may be shared)."""
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> dict:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--size", type=int, default=0, help="default: 512 on GPU, 256 on CPU")
    parser.add_argument("--steps", type=int, default=0, help="default: 20 on GPU, 2 on CPU")
    parser.add_argument("--repeats", type=int, default=0, help="default: 3 on GPU, 2 on CPU")
    parser.add_argument(
        "--instance-fraction",
        type=float,
        default=-1,
        help="a of multi-instance sampling (default 0.2; 0.5 on CPU so 1 of its 2 steps branches)",
    )
    parser.add_argument("--threads", type=int, default=2, help="CPU threads")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    from diffusers import StableDiffusionControlNetPipeline

    from polychrome.engines.base import EngineContext
    from polychrome.engines.diffusion.loading import make_scheduler
    from polychrome.engines.diffusion.options import DiffusionOptions
    from polychrome.engines.diffusion.sampler import Sampler
    from polychrome.engines.diffusion.strategies import build_plan

    gpu = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    device = torch.device("cuda" if gpu else "cpu")
    dtype = torch.float16 if gpu else torch.float32
    size = args.size or (512 if gpu else 256)
    steps = args.steps or (20 if gpu else 2)
    repeats = args.repeats or (3 if gpu else 2)
    fraction = args.instance_fraction if args.instance_fraction >= 0 else (0.2 if gpu else 0.5)
    torch.set_num_threads(args.threads)
    if gpu:
        torch.backends.cuda.matmul.allow_tf32 = True

    start = time.perf_counter()
    comps = build(device, dtype)
    build_s = time.perf_counter() - start
    what = torch.cuda.get_device_name(0) if gpu else f"CPU ({platform.processor() or 'cpu'})"
    print(f"device: {what}, {dtype}, {size}x{size}, {steps} steps, built in {build_s:.1f} s")

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    luminance = (50 + 30 * np.sin(xx / 17) * np.cos(yy / 23)).astype(np.float32)
    thirds = [np.zeros((size, size), bool) for _ in LABELS]
    for k, mask in enumerate(thirds):
        mask[:, k * size // 3 : (k + 1) * size // 3] = True

    def plan_for(context, **extra):
        opts = DiffusionOptions(
            base_model="x", controlnet="x", steps=steps, resolution=size, **extra
        )
        plan, _ = build_plan(
            luminance,
            opts,
            context,
            multiple=comps.multiple,
            vae_scale=comps.vae_scale,
            seed=0,
        )
        return plan

    sampler = Sampler(comps)
    single = plan_for(EngineContext(description=PROMPT))
    multi = plan_for(
        EngineContext(description=PROMPT, instances=tuple(zip(thirds, LABELS, strict=True))),
        instance_fraction=fraction,
    )
    pipe = StableDiffusionControlNetPipeline(
        vae=comps.vae,
        text_encoder=comps.text_encoder,
        tokenizer=comps.tokenizer,
        unet=comps.unet,
        controlnet=comps.controlnet,
        scheduler=make_scheduler("unipc", SCHEDULER),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    control = torch.from_numpy(single.control)[None, None].expand(1, 3, size, size)

    def plain():
        return pipe(
            PROMPT,
            image=control.to(device, dtype),
            height=size,
            width=size,
            num_inference_steps=steps,
            guidance_scale=single.guidance_scale,
            negative_prompt=single.negative_prompt,
            output_type="latent",
            generator=torch.Generator("cpu").manual_seed(0),
        )

    if gpu:
        torch.cuda.reset_peak_memory_stats()
        sampler.denoise(single), plain()  # warm-up (kernels, allocator)
    results: dict = {"device": what, "dtype": str(dtype), "size": size, "steps": steps}
    # Ours and plain diffusers interleaved, best of each, so a busy machine hurts both alike.
    ours = plain_s = float("inf")
    for _ in range(repeats):
        ours = min(ours, _time(lambda: sampler.denoise(single), device, 1))
        plain_s = min(plain_s, _time(plain, device, 1))
    multi_s = _time(lambda: sampler.denoise(multi), device, repeats)
    latents = sampler.denoise(single)
    decode_s = _time(lambda: sampler.decode(latents), device, 1 if not gpu else repeats)
    results.update(
        ours_s=ours,
        plain_s=plain_s,
        overhead=ours / plain_s - 1,
        ours_step_s=ours / steps,
        plain_step_s=plain_s / steps,
        instances3_s=multi_s,
        instances3_ratio=multi_s / ours,
        instance_fraction=fraction,
        decode_s=decode_s,
        total_single_s=ours + decode_s,
    )
    if gpu:
        results["peak_gpu_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    results["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"ours, one prompt:     {ours:8.2f} s  ({ours / steps:.2f} s per step)")
    print(f"plain diffusers:      {plain_s:8.2f} s  ({plain_s / steps:.2f} s per step)")
    print(f"our overhead:         {100 * results['overhead']:+8.1f} %")
    ratio = multi_s / ours
    print(f"ours, 3 instances:    {multi_s:8.2f} s  ({ratio:.2f}x one prompt; a={fraction})")
    print(f"VAE decode:           {decode_s:8.2f} s")
    print(f"one prompt + decode:  {ours + decode_s:8.2f} s")
    if gpu:
        print(f"peak GPU memory:      {results['peak_gpu_memory_gib']:8.2f} GiB")
    print(f"peak RAM (RSS):       {results['peak_rss_gib']:8.2f} GiB")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
