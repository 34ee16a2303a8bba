"""Train the small transformers shipped with neurocircuits, one per task, on CPU.

Usage::

    OMP_NUM_THREADS=1 python scripts/train_task_models.py                 # all tasks
    OMP_NUM_THREADS=1 python scripts/train_task_models.py induction ioi   # some tasks
    python scripts/train_task_models.py --out /tmp/ckpt --steps 500       # elsewhere / shorter

Each model is 2 layers x 2 heads (attention-only, or with a small MLP where the task needs one, see
``Task.model_config``), trained with Adam on ``task.training_batch`` (fresh data every step, so the
model never sees the held-out pairs, which use a different seed range). The checkpoint is written
atomically to ``src/neurocircuits/models/checkpoints/<task>.safetensors`` with ``asdict(cfg)`` and
training metadata (steps, loss, held-out accuracy and logit differences, versions) in the
safetensors header.
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from neurocircuits.data.tasks import IGNORE, get_task, list_tasks
from neurocircuits.models.transformer import HookedTransformer, TransformerConfig

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "neurocircuits" / "models" / "checkpoints"
HELD_OUT_SEED = 10_000_019  # training batches use seeds < 10**6; evaluation pairs use this one
# steps and learning rate per task (tuned so each trains in a few CPU minutes)
SCHEDULE = {
    "induction": {"steps": 8000, "lr": 2e-3, "batch": 64},
    "ioi": {"steps": 5000, "lr": 2e-3, "batch": 64},
    "greater_than": {"steps": 3000, "lr": 2e-3, "batch": 64},
    "docstring": {"steps": 3000, "lr": 2e-3, "batch": 64},
}


@torch.no_grad()
def evaluate(model: HookedTransformer, task_name: str, n: int = 512) -> dict[str, float]:
    """Held-out accuracy (argmax == answer) and mean logit differences on clean and corrupt prompts."""
    task = get_task(task_name)
    pairs = task.make_pairs(n, seed=HELD_OUT_SEED)
    idx = torch.arange(n)
    clean_logits = model(pairs.clean)
    clean = clean_logits[:, -1]
    corrupt = model(pairs.corrupt)[:, -1]
    out = {
        "accuracy": float(task.correct(clean_logits, pairs).float().mean()),
        "logit_diff_clean": float((clean[idx, pairs.answer] - clean[idx, pairs.wrong]).mean()),
        "logit_diff_corrupt": float((corrupt[idx, pairs.answer] - corrupt[idx, pairs.wrong]).mean()),
    }
    if hasattr(task, "prob_diff"):
        out["prob_diff"] = float(task.prob_diff(clean_logits, pairs).mean())
    return out


def train(task_name: str, steps: int | None = None, seed: int = 0, out_dir: Path = DEFAULT_OUT) -> dict[str, float]:
    task = get_task(task_name)
    sched = dict(SCHEDULE.get(task_name, {"steps": 2000, "lr": 1e-3, "batch": 64}))
    if steps is not None:
        sched["steps"] = steps
    cfg = TransformerConfig(**{**task.model_config, "d_vocab": task.d_vocab, "n_ctx": task.seq_len})
    torch.manual_seed(seed)
    model = HookedTransformer(cfg, seed=seed)
    opt = torch.optim.AdamW(model.parameters(), lr=sched["lr"], weight_decay=0.01)
    lr_at = lambda s: sched["lr"] * min(1.0, (s + 1) / 100) * max(0.1, 1 - s / sched["steps"])  # noqa: E731
    t0 = time.perf_counter()
    loss_avg = float("nan")
    bar = tqdm(range(sched["steps"]), desc=f"train {task_name}", leave=False)
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step)
        batch = task.training_batch(sched["batch"], seed=seed * 1_000_000 + step)
        logits = model(batch.tokens)
        loss = F.cross_entropy(logits.reshape(-1, cfg.d_vocab), batch.targets.reshape(-1), ignore_index=IGNORE)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        value = float(loss.detach())
        loss_avg = value if step == 0 else 0.98 * loss_avg + 0.02 * value
        if step % 50 == 0:
            bar.set_postfix(loss=f"{loss_avg:.3f}")
    model.eval()
    metrics = evaluate(model, task_name)
    meta = {
        "task": task_name,
        "task_kwargs": {},
        "mechanism": task.mechanism,
        "training": {**sched, "seed": seed, "optimizer": "AdamW(wd=0.01), warmup 100, linear decay",
                     "final_loss_ema": loss_avg, "train_seconds": round(time.perf_counter() - t0, 1)},
        "held_out": {**metrics, "n_pairs": 512, "seed": HELD_OUT_SEED},
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
        "created": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save(out_dir / f"{task_name}.safetensors", metadata=meta)
    return {**metrics, "loss": loss_avg, "seconds": meta["training"]["train_seconds"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tasks", nargs="*", help=f"tasks to train (default: all of {list_tasks()})")
    parser.add_argument("--steps", type=int, default=None, help="override the number of training steps")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="checkpoint folder")
    args = parser.parse_args(argv)
    for name in args.tasks or list(SCHEDULE):
        result = train(name, steps=args.steps, seed=args.seed, out_dir=args.out)
        print(f"{name:14s} " + " ".join(f"{k}={v:.3f}" for k, v in result.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
