"""Circuit discovery on a TransformerLens 2.x HookedTransformer through the adapter.

Needs ``pip install 'transformer-lens<3'`` (the ``bench`` extra). The model is built from a config
in code (random weights, nothing downloaded); bring your own trained HookedTransformer the same way,
configured with ``use_split_qkv_input=True``, ``use_attn_result=True`` and ``use_hook_mlp_in=True``.

    OMP_NUM_THREADS=1 python examples/discover_transformer_lens.py
"""

from __future__ import annotations

import torch

from neurocircuits import discover, viz
from neurocircuits.data.tasks import PromptPairs
from neurocircuits.models.adapters.transformer_lens import TLAdapter, tiny_tl_model


def main() -> None:
    model = TLAdapter(tiny_tl_model(n_layers=2, n_heads=4, d_model=64, d_vocab=50, seed=0))
    print(model.computation_graph())  # 110 edges: embed, 8 heads, 2 MLPs -> q/k/v, MLP inputs, logits
    g = torch.Generator().manual_seed(0)
    first = torch.randint(0, 50, (32, 8), generator=g)
    clean = torch.cat([first, first], dim=1)  # a repeated sequence: induction-style prompts
    corrupt = torch.cat([torch.randint(0, 50, (32, 8), generator=g), first], dim=1)
    answer = clean[:, 8].clone()
    pairs = PromptPairs(clean, corrupt, answer, (answer + 1) % 50)
    # random weights do not perform the task, so switch the task check off for this demo
    result = discover.discover(model, pairs, method="eap", top_k=20, check="off", progress=False)
    viz.print_summary([result])
    print(viz.write_report("reports/example-transformer-lens", [result], meta={"model": "tiny TL", "task": "repeat"}))


if __name__ == "__main__":
    main()
