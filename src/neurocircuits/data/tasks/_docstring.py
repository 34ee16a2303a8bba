r'''Docstring argument copy: predict the next parameter name to document.

Heimersheim & Janiak 2023, "A circuit for Python docstrings in a 4-layer attention-only
transformer". Synthetic version::

    ... def F ( A B C D ) : """ :param A :param B :param   ->  C

A random function name and 3-5 distinct argument names (from a synthetic vocabulary); the first
1..n-1 arguments are already documented; leading filler tokens keep every prompt the same length
while moving the signature around. The answer is the argument that follows, in the signature, the
last documented one. The corrupted prompt draws new argument names for the signature (the docstring
is unchanged), so the documented names no longer point into the signature; ``wrong`` is the
corrupted signature's token at the answer's position.

Reference mechanism (Heimersheim & Janiak): previous-token / duplicate heads and an argument mover
that attends from ``:param`` to the next argument of the signature and copies it. The shipped
2-layer model (``load_pretrained("docstring")``, measured): both layer-1 heads attend from the final
``:param`` to the answer argument in the signature (attention about 1.0) and copy it; the layer-0
heads build their queries/keys (zero-ablating layer-0 head 0 lowers the logit difference from about
13 to 8); there is no crisp previous-token head.
'''

from __future__ import annotations

import numpy as np

from ._base import Task, TrainingBatch, _as_batch, _empty_batch, _pairs_from_samples, register_task
from ._pairs import PromptPairs

_SYNTAX = ["<pad>", "def", "(", ")", ":", '"""', ":param", "\\n"]


@register_task("docstring", mechanism="layer-0 context heads -> layer-1 argument movers")
class DocstringTask(Task):
    """Docstring argument copy with ``n_args_range`` arguments drawn from ``n_arg_names`` names."""

    name = "docstring"
    mechanism = (
        "Argument mover: layer-1 heads attend from the final ':param' to the next undocumented argument of the "
        "signature (attention ~1.0 in the shipped model) and copy it; layer-0 heads compose into their queries "
        "and keys (which argument was documented last)."
    )

    def __init__(self, n_arg_names: int = 24, n_func_names: int = 6, min_args: int = 3, max_args: int = 5) -> None:
        if not 2 <= min_args <= max_args:
            raise ValueError(f"need 2 <= min_args <= max_args, got {min_args}, {max_args}.")
        if n_arg_names < 2 * max_args:
            raise ValueError(f"n_arg_names={n_arg_names} must be at least 2 * max_args = {2 * max_args} (clean + corrupt names).")
        self.min_args, self.max_args = min_args, max_args
        self.token_names = list(_SYNTAX) + [f"f{i}" for i in range(n_func_names)] + [f"arg{i}" for i in range(n_arg_names)]
        self._id = {w: i for i, w in enumerate(self.token_names)}
        self.func_ids = np.arange(len(_SYNTAX), len(_SYNTAX) + n_func_names)
        self.arg_ids = np.arange(len(_SYNTAX) + n_func_names, len(self.token_names))
        self.d_vocab = len(self.token_names)
        # longest prompt: def F ( args ) : """ (max_args - 1) * (:param X) :param
        self.seq_len = 2 + 1 + max_args + 1 + 1 + 1 + 2 * (max_args - 1) + 1 + 2
        self.model_config = {"n_layers": 2, "n_heads": 2, "d_model": 64, "d_head": 32, "d_mlp": 0, "normalization": "ln"}

    def _sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, int, int]:
        w = self._id
        n_args = int(rng.integers(self.min_args, self.max_args + 1))
        n_doc = int(rng.integers(1, n_args))
        names = rng.choice(self.arg_ids, size=2 * n_args, replace=False)
        args, other = names[:n_args], names[n_args:]
        func = int(rng.choice(self.func_ids))
        doc = []
        for a in args[:n_doc]:
            doc += [w[":param"], int(a)]
        body = [w["def"], func, w["("], *args.tolist(), w[")"], w[":"], w['"""'], *doc, w[":param"]]
        n_pad = self.seq_len - len(body)
        pad = rng.choice([w["<pad>"], w["\\n"]], size=n_pad).tolist()
        seq = np.array(pad + body)
        corrupt = seq.copy()
        start = n_pad + 3
        corrupt[start:start + n_args] = other
        return seq, corrupt, int(args[n_doc]), int(other[n_doc])

    def make_pairs(self, n: int, seed: int = 0) -> PromptPairs:
        return _pairs_from_samples(self._sample, n, seed)

    def training_batch(self, n: int, seed: int = 0) -> TrainingBatch:
        """Clean prompts; every ``:param`` (the final one included) targets the argument it documents."""
        tokens, targets = _empty_batch(n, self.seq_len)
        rng = np.random.default_rng(seed)
        param = self._id[":param"]
        for i in range(n):
            seq, _, _, _ = self._sample(rng)
            tokens[i] = seq
            start = int(np.flatnonzero(seq == self._id["("])[0]) + 1
            for j, pos in enumerate(np.flatnonzero(seq == param)):
                targets[i, pos] = seq[start + j]  # the j-th ':param' documents the j-th argument
        return _as_batch(tokens, targets)
