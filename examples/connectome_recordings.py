"""Neural data I/O tour: a real spike train from nitime, NWB round trip, synthetic spikes with
planted couplings, calcium traces, and the C. elegans functional atlas aligned to the connectome.

Run: OMP_NUM_THREADS=1 python examples/connectome_recordings.py   (extras [nwb], [connectomes], nitime)
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from neurocircuits.data import connectome, recordings


def main() -> None:
    spikes, stimulus = recordings.grasshopper(1)
    print(spikes, "\n", stimulus)
    idx = (spikes.spikes[0] * stimulus.rate_hz).astype(int)
    idx = idx[idx > 400]
    sta = np.mean([stimulus.data[i - 400:i, 0] for i in idx], axis=0)
    print(f"spike-triggered average over the last 20 ms: peak {sta.max():.3f} at "
          f"{(400 - sta.argmax()) / stimulus.rate_hz * 1e3:.1f} ms before the spike")

    rec, truth = recordings.glm_spikes(n_neurons=10, duration_s=20.0, seed=0)
    calcium = recordings.calcium_from_spikes(rec, rate_hz=30.0)
    print(rec, "planted couplings:", truth.n_edges, "edges;", calcium)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "glm.nwb"
        recordings.write_nwb(rec, path)
        print("NWB round trip lossless:", recordings.read_nwb(path) == rec)

    worm = connectome("celegans/cook2019_herm")
    atlas = recordings.worm_functional_atlas().align(worm.node_names())
    measured = atlas.n_obs > 0
    print(f"functional atlas aligned to {len(atlas.names)} connectome neurons; {int(measured.sum())} measured pairs")


if __name__ == "__main__":
    main()
