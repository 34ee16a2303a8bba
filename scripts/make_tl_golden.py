"""Write the TransformerLens / auto-circuit golden files used by tests/unit/test_adapters_tl_golden.py.

Run in the bench environment (TransformerLens 2.x and auto-circuit installed):

    OMP_NUM_THREADS=1 /work/venvs/bench/bin/python scripts/make_tl_golden.py

It builds a tiny TransformerLens ``HookedTransformer`` from a config in code (seeded, nothing
downloaded) and stores, in ``tests/golden/tl_tiny.safetensors``: its state dict (``sd.*``), its
config (JSON in the header), prompt pairs, the logits of the clean prompts and two activations read
through :class:`~neurocircuits.models.adapters.transformer_lens.TLAdapter`. In
``tests/golden/tl_tiny_scores.json`` it stores auto-circuit's edge-attribution-patching scores and
exact single-edge patching effects (logit difference, corrupt ablation) on the same pairs, so the
default test suite can check neurocircuits against both peers without installing them.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import discovery as bench  # noqa: E402  (bench/discovery.py: auto-circuit helpers)

from neurocircuits.layers.hooks import cache_activations  # noqa: E402
from neurocircuits.models.adapters.transformer_lens import TLAdapter, tiny_tl_model  # noqa: E402

GOLDEN = Path(__file__).resolve().parents[1] / "tests" / "golden"
CFG = dict(n_layers=2, n_heads=2, d_model=16, d_head=8, d_mlp=32, d_vocab=12, n_ctx=8, seed=3)
ACTS = ("blocks.1.attn.hook_result", "blocks.1.attn.hook_q_input", "hook_embed")


def _json_cfg(cfg: object) -> dict:
    out = {}
    for k, v in cfg.to_dict().items():
        try:
            json.dumps(v)
        except TypeError:
            continue
        out[k] = v
    return out


def main() -> None:
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    n, pos = 8, 8
    clean = torch.randint(0, CFG["d_vocab"], (n, pos), generator=g)
    corrupt = clean.clone()
    corrupt[:, :4] = torch.randint(0, CFG["d_vocab"], (n, 4), generator=g)
    answer = torch.randint(0, CFG["d_vocab"], (n,), generator=g)
    wrong = (answer + 1 + torch.randint(0, CFG["d_vocab"] - 1, (n,), generator=g)) % CFG["d_vocab"]
    pairs = bench.PromptPairs(clean, corrupt, answer, wrong)

    tl_model = tiny_tl_model(**CFG)
    adapter = TLAdapter(tiny_tl_model(**CFG))
    tensors = {f"sd.{k}": v.detach().clone().contiguous() for k, v in tl_model.state_dict().items()
               if k.split(".")[-1] not in ("mask", "IGNORE")}
    with torch.no_grad():
        tensors["logits"] = tl_model(clean).detach().contiguous()
        with cache_activations(adapter, list(ACTS)) as cache:
            adapter(clean)
        for name in ACTS:
            tensors[f"act.{name}"] = cache[name][:2].detach().contiguous()  # first two prompts
    tensors.update(clean=clean, corrupt=corrupt, answer=answer, wrong=wrong)
    GOLDEN.mkdir(parents=True, exist_ok=True)
    path = GOLDEN / "tl_tiny.safetensors"
    save_file(tensors, str(path),
              metadata={"tl_cfg": json.dumps(_json_cfg(tl_model.cfg)), "made_by": "scripts/make_tl_golden.py"})
    path.chmod(0o644)

    pm, loader = bench.ac_setup(tiny_tl_model(**CFG), pairs)
    eap = bench.ac_eap(pm, loader)
    exact = bench.ac_exact(pm, pairs, list(pm.edges))
    import auto_circuit
    import transformer_lens
    import importlib.metadata as md

    doc = {
        "made_by": "scripts/make_tl_golden.py",
        "versions": {"auto-circuit": md.version("auto-circuit"), "transformer-lens": md.version("transformer-lens"),
                     "torch": torch.__version__},
        "note": "auto-circuit EAP = d(-logit_diff)/d(edge mask) at mask 0; exact = logit_diff(edge ablated) - logit_diff(clean)",
        "eap": [[s, t, k, v] for (s, t, k), v in sorted(eap.items())],
        "exact": [[s, t, k, v] for (s, t, k), v in sorted(exact.items())],
    }
    (GOLDEN / "tl_tiny_scores.json").write_text(json.dumps(doc, indent=0))
    del auto_circuit, transformer_lens
    print(f"wrote {GOLDEN / 'tl_tiny.safetensors'} and tl_tiny_scores.json ({len(eap)} edges)")


if __name__ == "__main__":
    main()
