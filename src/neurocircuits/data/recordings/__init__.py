"""Neural recordings: one tidy type for spike trains and continuous data, NWB I/O, shipped samples
(nitime's grasshopper receptor, the C. elegans functional atlas) and synthetic generators with
planted ground truth."""

from ._nwb import NWBFormatError as NWBFormatError
from ._nwb import read_nwb as read_nwb
from ._nwb import write_nwb as write_nwb
from ._recording import Recording as Recording
from ._recording import RecordingError as RecordingError
from ._samples import FunctionalAtlas as FunctionalAtlas
from ._samples import grasshopper as grasshopper
from ._samples import worm_functional_atlas as worm_functional_atlas
from ._synthetic import calcium_from_spikes as calcium_from_spikes
from ._synthetic import connectome_activity as connectome_activity
from ._synthetic import couplings_graph as couplings_graph
from ._synthetic import glm_spikes as glm_spikes
from ._synthetic import lif_spikes as lif_spikes
from ._synthetic import random_couplings as random_couplings
