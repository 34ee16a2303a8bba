"""Write golden files for the cells tests from the peer libraries ncps and pykan.

Run in the peer venv (never needed by the tests themselves):

    /work/venvs/cells/bin/python scripts/make_cells_golden.py

Outputs (small npz files, float64 where the peer allows):
    tests/golden/cells_ncps.npz   LTC (AutoNCP wiring) and CfC (default / no_gate / pure) weights,
                                  inputs and ncps outputs.
    tests/golden/cells_pykan.npz  pykan B-spline basis on an extended grid, and a pykan KANLayer's
                                  parameters, inputs and outputs.
"""

from __future__ import annotations

import os
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parents[1] / "tests" / "golden"


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().double().numpy()


def ncps_golden() -> dict[str, np.ndarray]:
    from ncps.torch import CfC, LTC
    from ncps.wirings import AutoNCP

    torch.manual_seed(0)
    torch.set_default_dtype(torch.float64)
    out: dict[str, np.ndarray] = {}
    wiring = AutoNCP(10, 2, seed=7)
    ltc = LTC(3, wiring, batch_first=True, ode_unfolds=6)  # implicit (softplus) constraints, ncps default
    with torch.no_grad():  # make the affine maps non-trivial so they are checked too
        ltc.rnn_cell._params["input_w"].uniform_(0.5, 1.5)
        ltc.rnn_cell._params["input_b"].uniform_(-0.3, 0.3)
        ltc.rnn_cell._params["output_w"].uniform_(0.5, 1.5)
        ltc.rnn_cell._params["output_b"].uniform_(-0.3, 0.3)
    x = torch.randn(4, 12, 3)
    h0 = torch.randn(4, wiring.units) * 0.3
    y, h = ltc(x, h0)
    for name, p in ltc.rnn_cell._params.items():
        out[f"ltc.{name}"] = _np(p)
    out["ltc.adjacency"] = np.asarray(wiring.adjacency_matrix, dtype=np.float64)
    out["ltc.sensory_adjacency"] = np.asarray(wiring.sensory_adjacency_matrix, dtype=np.float64)
    out["ltc.output_size"] = np.asarray(wiring.output_dim)
    out["ltc.x"], out["ltc.h0"], out["ltc.y"], out["ltc.h"] = _np(x), _np(h0), _np(y), _np(h)

    for mode in ("default", "no_gate", "pure"):
        cfc = CfC(3, 6, proj_size=2, batch_first=True, mode=mode, backbone_units=16, backbone_layers=2)
        x = torch.randn(4, 9, 3)
        ts = torch.rand(4, 9) + 0.5
        y, h = cfc(x, None)
        for name, p in cfc.state_dict().items():
            out[f"cfc_{mode}.{name}"] = _np(p)
        out[f"cfc_{mode}.x"], out[f"cfc_{mode}.y"], out[f"cfc_{mode}.h"] = _np(x), _np(y), _np(h)
        # one cell step with per-sample elapsed time
        h0 = torch.randn(4, 6) * 0.5
        h1, _ = cfc.rnn_cell(x[:, 0], h0, ts[:, 0:1])
        out[f"cfc_{mode}.step_h0"], out[f"cfc_{mode}.step_ts"], out[f"cfc_{mode}.step_h1"] = _np(h0), _np(ts[:, 0]), _np(h1)
    torch.set_default_dtype(torch.float32)
    out["version"] = np.asarray(version("ncps"))
    return out


def pykan_golden() -> dict[str, np.ndarray]:
    from kan.KANLayer import KANLayer
    from kan.spline import B_batch, extend_grid

    torch.manual_seed(1)
    out: dict[str, np.ndarray] = {}
    for k, g in ((3, 5), (2, 7), (1, 4)):
        grid = torch.linspace(-1.5, 1.0, g + 1, dtype=torch.float64)[None, :].expand(2, g + 1)
        grid = extend_grid(grid, k_extend=k)
        x = torch.rand(50, 2, dtype=torch.float64) * 3.0 - 1.75  # includes points outside the grid
        out[f"basis_k{k}_g{g}.grid"] = _np(grid)
        out[f"basis_k{k}_g{g}.x"] = _np(x)
        out[f"basis_k{k}_g{g}.B"] = _np(B_batch(x, grid, k=k))
    torch.set_default_dtype(torch.float64)
    layer = KANLayer(in_dim=3, out_dim=2, num=5, k=3, noise_scale=0.5, grid_range=[-1, 1])
    x = torch.rand(20, 3) * 2 - 1
    y, preacts, postacts, postspline = layer(x)
    torch.set_default_dtype(torch.float32)
    for name in ("grid", "coef", "scale_base", "scale_sp", "mask"):
        out[f"layer.{name}"] = _np(getattr(layer, name))
    out["layer.x"], out["layer.y"], out["layer.postacts"] = _np(x), _np(y), _np(postacts)
    out["version"] = np.asarray(version("pykan"))
    return out


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for name, fn in (("cells_ncps.npz", ncps_golden), ("cells_pykan.npz", pykan_golden)):
        data = fn()
        tmp = OUT / (name + ".tmp.npz")
        np.savez_compressed(tmp, **data)
        os.replace(tmp, OUT / name)
        print(f"wrote {OUT / name} ({(OUT / name).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
