"""Training throughput: a DataLoader + PIL baseline against reprolib's multi-run trainer, in one process tree.

(a) baseline, written the common way: a map-style dataset that turns each uint8 array into a PIL image,
    torchvision transforms (random crop, flip, ToTensor, Normalize), a DataLoader, one fp32 model at a time.
(b) ``reprolib.training.train_runs`` with K runs at once (data on the device, batched tensor augmentation,
    precision/channels_last "auto" unless overridden).
Each configuration runs in a fresh subprocess so its peak memory is its own. Images are random uint8 arrays of
the real shapes (CIFAR 32×32×3, Fashion-MNIST 28×28×1): throughput does not depend on pixel values.

    python benchmarks/train_throughput.py                       # CPU, small
    python benchmarks/train_throughput.py --device cuda --images 20000 --workers 8
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch

CASES = {  # name: (model spec, image shape (C, H, W), reprolib augmentation)
    "resnet20-32x32x3": ({"name": "resnet_cifar", "depth": 20}, (3, 32, 32), "pad_crop_flip"),
    "resnet18-28x28x1": ({"name": "resnet18"}, (1, 28, 28), "pad_crop_flip"),
    "resnet110-32x32x3": ({"name": "resnet_cifar", "depth": 110}, (3, 32, 32), "pad_crop_flip"),
}


def _images(n: int, shape, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8), rng.integers(0, 2, n)


def baseline(case: str, n: int, device: torch.device, workers: int, epochs: int) -> float:
    """Images/s of the common loop: PIL transforms in DataLoader workers, one fp32 model."""
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms

    from reprolib.models import create_model

    spec, (c, h, w), _ = CASES[case]
    x, y = _images(n, (c, h, w))
    pil = x.transpose(0, 2, 3, 1) if c == 3 else x[:, 0]

    class ArrayDataset(Dataset):
        transform = transforms.Compose(
            [
                transforms.RandomCrop(h, padding=4),
                transforms.RandomHorizontalFlip(),
                transforms.ToTensor(),
                transforms.Normalize([0.5] * c, [0.25] * c),
            ]
        )

        def __len__(self):
            return n

        def __getitem__(self, i):
            return self.transform(Image.fromarray(pil[i])), float(y[i])

    loader = DataLoader(
        ArrayDataset(),
        batch_size=128,
        shuffle=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        drop_last=True,
    )
    model = create_model(spec, [0], in_channels=c).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)

    def epoch():
        seen = 0
        for images, labels in loader:
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True).float()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(images[None])[0, :, 0], labels)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(labels)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return seen

    epoch()  # warm-up: workers start, cuDNN picks algorithms
    start, seen = time.perf_counter(), 0
    for _ in range(epochs):
        seen += epoch()
    return seen / (time.perf_counter() - start)


def reprolib_trainer(
    case: str, n: int, device: torch.device, k: int, epochs: int, precision: str, channels_last, compile_model: bool
) -> float:
    """Images/s summed over K runs trained at once by train_runs."""
    from reprolib.tasks import Split, Task
    from reprolib.training import Recipe, train_runs

    spec, shape, augment = CASES[case]
    x, y = _images(n, shape)
    split = Split(torch.from_numpy(x), torch.from_numpy(y), torch.zeros(n, dtype=torch.long), torch.from_numpy(y))
    tiny = split.subset(torch.arange(8))
    task = Task("bench", split, tiny, (0.5,) * shape[0], (0.25,) * shape[0])
    recipe = Recipe(
        epochs=1,
        warmup_epochs=0,
        augment=augment,
        precision=precision,
        channels_last=channels_last,
        compile=compile_model,
    )
    train_runs([task] * k, spec, recipe, list(range(k)), device=device)  # warm-up (and compilation)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    train_runs([task] * k, spec, recipe.with_(epochs=epochs), list(range(k)), device=device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return k * n * epochs / (time.perf_counter() - start)


def measure_one(args) -> dict:
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    if args.k == 0:
        rate = baseline(args.case, args.images, device, args.workers, args.epochs)
    else:
        rate = reprolib_trainer(
            args.case,
            args.images,
            device,
            args.k,
            args.epochs,
            args.precision,
            {"auto": "auto", "true": True, "false": False}[args.channels_last],
            args.compile,
        )
    runs = max(args.k, 1)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / runs
        what = "GPU"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / runs
        what = "RSS"
    return {"case": args.case, "k": args.k, "img_per_s": rate, "peak_mib_per_run": peak / 2**20, "memory": what}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--images", type=int, default=512, help="training images per run (per epoch)")
    parser.add_argument("--epochs", type=int, default=1, help="timed epochs after one warm-up epoch")
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the baseline")
    parser.add_argument("--cases", default="resnet20-32x32x3,resnet18-28x28x1", help=f"of {', '.join(CASES)}")
    parser.add_argument("--ks", default="1,4,20", help="runs trained at once by reprolib")
    parser.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    parser.add_argument("--channels-last", default="auto", choices=["auto", "true", "false"])
    parser.add_argument("--compile", action="store_true", help="torch.compile the reprolib model")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--k", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case is not None:
        print(json.dumps(measure_one(args)))
        return

    rows = []
    for case in args.cases.split(","):
        for k in [0, *map(int, args.ks.split(","))]:
            cmd = [
                sys.executable,
                __file__,
                "--case",
                case,
                "--k",
                str(k),
                "--device",
                args.device,
                "--images",
                str(args.images),
                "--epochs",
                str(args.epochs),
                "--workers",
                str(args.workers),
                "--precision",
                args.precision,
                "--channels-last",
                args.channels_last,
            ]
            if args.compile:
                cmd.append("--compile")
            result = subprocess.run(cmd, capture_output=True, text=True)
            if result.returncode != 0:
                print(f"{case} K={k} failed:\n{result.stderr[-2000:]}", file=sys.stderr)
                continue
            rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
            print(
                f"  measured {case} {'baseline' if k == 0 else f'K={k}'}: {rows[-1]['img_per_s']:.0f} img/s",
                file=sys.stderr,
                flush=True,
            )

    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(
        f"\ndevice: {device_name}, threads: {torch.get_num_threads()}, torch {torch.__version__}, "
        f"images/run: {args.images}, precision: {args.precision}, channels_last: {args.channels_last}, "
        f"compile: {args.compile}, baseline workers: {args.workers}"
    )
    print(f"{'case':20s} {'trainer':>12s} {'img/s':>10s} {'ratio':>7s} {'peak MiB/run':>13s}")
    for case in args.cases.split(","):
        base = next((r["img_per_s"] for r in rows if r["case"] == case and r["k"] == 0), None)
        for r in (r for r in rows if r["case"] == case):
            label = "baseline" if r["k"] == 0 else f"reprolib K={r['k']}"
            ratio = f"{r['img_per_s'] / base:6.2f}x" if base else "   n/a"
            print(
                f"{case:20s} {label:>12s} {r['img_per_s']:10.0f} {ratio:>7s} {r['peak_mib_per_run']:9.0f} {r['memory']}"
            )


if __name__ == "__main__":
    main()
