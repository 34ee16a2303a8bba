"""Find the induction circuit of the shipped 2-layer transformer and write an HTML report.

    OMP_NUM_THREADS=1 python examples/discover_induction.py [--out reports/example-induction]

The same as ``neurocircuits discover --method eap_ig,acdc``, through the Python API.
"""

from __future__ import annotations

import argparse

from neurocircuits import discover, viz
from neurocircuits.data.tasks import get_task
from neurocircuits.models.pretrained import load_pretrained, pretrained_metadata


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="reports/example-induction")
    ap.add_argument("--n", type=int, default=64, help="number of prompt pairs")
    args = ap.parse_args()

    model = load_pretrained("induction")
    task = get_task(pretrained_metadata("induction")["task"])
    pairs = task.make_pairs(args.n, seed=1)
    print(f"task: {task.name}; mechanism: {task.mechanism}")
    print("example clean prompt:  ", task.decode(pairs.clean[0]))
    print("example corrupt prompt:", task.decode(pairs.corrupt[0]))

    results = [
        discover.discover(model, pairs, method="eap_ig", steps=5, progress=False),  # smallest faithful top-n
        discover.discover(model, pairs, method="acdc", metric="kl_divergence", progress=False),  # tau = 1% of effect
    ]
    viz.print_summary(results)
    for edge in sorted(results[0].circuit.edges, key=lambda e: -abs(e.score or 0.0))[:8]:
        print(f"  {edge.source:>6} -> {edge.target:<8} [{edge.kind}] {edge.score:+.4f}")
    out = viz.write_report(args.out, results, meta={"model": "induction", "task": task.name, "n_pairs": len(pairs)})
    print(f"report: {out / 'report.html'}")


if __name__ == "__main__":
    main()
