"""Store a small golden file from reservoirpy for the ESN agreement test (run with the bench venv).

    /work/venvs/reservoir/bin/python scripts/reservoir_golden.py

Writes tests/golden/reservoir_esn.npz: reservoirpy's weights for a 20-unit reservoir (leak 0.3,
sr 1.25, bias 0), a 300-step Mackey-Glass input, reservoirpy's states at a few steps and its
predictions after a ridge fit on the first 200 steps (warm-up 20).
"""

from __future__ import annotations

import os

import numpy as np
import reservoirpy
from reservoirpy.nodes import Reservoir, Ridge

from neurocircuits.data.generators import mackey_glass

s = mackey_glass(301)
s = 2 * (s - s.min()) / (s.max() - s.min()) - 1
X, Y = s[:-1, None], s[1:, None]
res = Reservoir(20, lr=0.3, sr=1.25, seed=7)
states = res.run(X)
res.reset()
model = res >> Ridge(ridge=1e-6)
model.fit(X[:200], Y[:200], warmup=20)
pred = model.run(X[200:])
W = res.W.toarray() if hasattr(res.W, "toarray") else np.asarray(res.W)
Win = res.Win.toarray() if hasattr(res.Win, "toarray") else np.asarray(res.Win)
out = os.path.join(os.path.dirname(__file__), "..", "tests", "golden", "reservoir_esn.npz")
np.savez_compressed(
    out, W=W, Win=Win, X=X, Y=Y, state_steps=np.array([0, 10, 50, 299]),
    states=states[[0, 10, 50, 299]], pred=pred, reservoirpy_version=reservoirpy.__version__,
)
print("wrote", os.path.abspath(out), os.path.getsize(out), "bytes")
