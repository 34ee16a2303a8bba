"""Real recordings and atlases that installed packages ship (nothing is downloaded).

* :func:`grasshopper` - auditory receptor spike trains and the Gaussian-noise stimulus shipped by
  ``nitime`` (BSD licence; Rokem et al. 2006, J Neurophysiol 95:2541): spike times in microseconds
  and a stimulus sampled every 50 microseconds (20 kHz), 10 s each.
* :func:`worm_functional_atlas` - the C. elegans signal-propagation atlas (Randi et al. 2023,
  Nature 623:406) from the ``funatlas.h5`` file that ``wormneuroatlas`` ships (GPL-3.0; installed
  by the ``[connectomes]`` extra through ``cect``). It is read with ``h5py`` only, never through
  the package's network-calling constructor. ``dff[i, j]`` is the mean dF/F response of neuron
  ``i`` when neuron ``j`` is optogenetically stimulated; ``q`` the false-discovery q-value.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass, field
from collections.abc import Sequence

import numpy as np

from ..connectomes._celegans import normalise_neuron_name
from ..connectomes._registry import MissingExtraError
from ._recording import Recording, RecordingError

_ATLAS_ALIASES = {"AWCON": "AWCR", "AWCOFF": "AWCL"}  # state-based IDs -> left/right (most animals)


def _package_file(package: str, extra: str, *parts: str) -> str:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingExtraError(
            f"this sample ships with the package {package!r}, which is not installed; "
            f"install the extra: pip install 'neurocircuits[{extra}]'."
        )
    path = os.path.join(list(spec.submodule_search_locations)[0], *parts)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: the {package} installation does not contain this file.")
    return path


def grasshopper(trial: int = 1) -> tuple[Recording, Recording]:
    """Grasshopper auditory receptor spikes and their stimulus, as shipped by ``nitime``.

    Args:
        trial: 1 or 2 (two recordings with different noise stimuli).

    Returns:
        ``(spikes, stimulus)``: one-channel spike recording (times in seconds) and the
        one-channel stimulus sampled at 20 kHz, both starting at 0 s.
    """
    if trial not in (1, 2):
        raise ValueError(f"trial must be 1 or 2, got {trial}.")
    spike_path = _package_file("nitime", "samples", "data", f"grasshopper_spike_times{trial}.txt")
    stim_path = _package_file("nitime", "samples", "data", f"grasshopper_stimulus{trial}.txt")
    times_us = []
    with open(spike_path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            try:
                times_us.append(float(line))
            except ValueError:
                raise RecordingError(f"{spike_path}, line {lineno}: {line!r} is not a spike time.") from None
    stim = np.loadtxt(stim_path)
    if stim.ndim != 2 or stim.shape[1] != 2:
        raise RecordingError(f"{stim_path}: expected two columns (time in us, value), got shape {stim.shape}.")
    dt_us = float(np.median(np.diff(stim[:, 0])))
    rate_hz = 1e6 / dt_us
    duration_s = stim.shape[0] / rate_hz
    source = {"source": "nitime sample data (BSD)", "paper": "Rokem et al. 2006, J Neurophysiol 95:2541"}
    spikes = Recording(("receptor",), spikes=(np.asarray(times_us) * 1e-6,), start_s=0.0, duration_s=duration_s,
                       name=f"grasshopper_spikes{trial}", attrs=source)
    stimulus = Recording(("stimulus",), data=stim[:, 1:2], rate_hz=rate_hz, start_s=float(stim[0, 0]) * 1e-6,
                         name=f"grasshopper_stimulus{trial}", attrs={**source, "unit": "a.u."})
    return spikes, stimulus


@dataclass(frozen=True, eq=False)
class FunctionalAtlas:
    """Pairwise stimulation responses: ``dff[i, j]`` = response of ``names[i]`` to stimulating
    ``names[j]``; ``q`` its q-value; ``n_obs`` the number of observed pairs. NaN = not measured."""

    names: tuple[str, ...]
    dff: np.ndarray
    q: np.ndarray
    n_obs: np.ndarray
    attrs: dict[str, str] = field(default_factory=dict)

    def align(self, names: Sequence[str]) -> FunctionalAtlas:
        """Matrices re-indexed to ``names`` (e.g. ``worm.node_names()``); unmeasured neurons get NaN
        (``n_obs`` 0)."""
        index = {n: i for i, n in enumerate(self.names)}
        src = np.array([index.get(normalise_neuron_name(n), -1) for n in names])
        ok = src >= 0
        n = len(names)

        def take(m: np.ndarray, fill: float) -> np.ndarray:
            out = np.full((n, n), fill, dtype=np.float64)
            out[np.ix_(ok, ok)] = m[np.ix_(src[ok], src[ok])]
            return out

        return FunctionalAtlas(tuple(names), take(self.dff, np.nan), take(self.q, np.nan),
                               take(self.n_obs, 0.0).astype(np.int64), dict(self.attrs))


def worm_functional_atlas(strain: str = "wt") -> FunctionalAtlas:
    """The C. elegans signal-propagation atlas (see the module docstring).

    Args:
        strain: ``"wt"`` (wild type) or ``"unc31"`` (dense-core-vesicle release mutant).
    """
    if strain not in ("wt", "unc31"):
        raise ValueError(f"strain must be 'wt' or 'unc31', not {strain!r}.")
    path = _package_file("wormneuroatlas", "connectomes", "data", "funatlas.h5")
    try:
        import h5py
    except ImportError as err:
        raise MissingExtraError("the functional atlas needs h5py: pip install 'neurocircuits[nwb]'.") from err
    try:
        with h5py.File(path, "r") as f:
            names = [normalise_neuron_name(_ATLAS_ALIASES.get(n.decode(), n.decode())) for n in f["neuron_ids"][:]]
            group = f[strain]
            dff = np.asarray(group["dFF"][:], dtype=np.float64)
            q = np.asarray(group["q"][:], dtype=np.float64)
            n_obs = np.asarray(group["occ1"][:], dtype=np.int64)
    except (OSError, KeyError) as err:
        raise RecordingError(f"{path}: unreadable functional atlas ({err}).") from err
    return FunctionalAtlas(tuple(names), dff, q, n_obs, {
        "source": "wormneuroatlas funatlas.h5 (GPL-3.0)", "paper": "Randi et al. 2023, Nature 623:406",
        "strain": strain,
    })
