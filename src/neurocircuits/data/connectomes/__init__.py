"""Connectomes as CircuitGraphs, from data that packages ship (never downloaded at run time).

``connectome("celegans/cook2019_herm")`` loads a registered data set; ``list_connectomes()`` lists
them with species, counts, source paper and licence; ``read_connectome_csv`` reads a user's edge
table with checks that name the file and the problem.
"""

from . import _celegans  # noqa: F401  (registers the C. elegans data sets)
from . import _fly  # noqa: F401  (registers the fly optic lobe)
from . import _larva  # noqa: F401  (registers the larva mushroom body)
from ._celegans import NT_SIGN as NT_SIGN
from ._celegans import neurotransmitters as neurotransmitters
from ._celegans import normalise_neuron_name as normalise_neuron_name
from ._draw import connectome_svg as connectome_svg
from ._files import ConnectomeFileError as ConnectomeFileError
from ._files import read_connectome_csv as read_connectome_csv
from ._fly import read_flyvis_connectome as read_flyvis_connectome
from ._larva import read_labelled_adjacency as read_labelled_adjacency
from ._registry import CONNECTOMES as CONNECTOMES
from ._registry import ConnectomeInfo as ConnectomeInfo
from ._registry import MissingExtraError as MissingExtraError
from ._registry import connectome as connectome
from ._registry import list_connectomes as list_connectomes
from ._registry import register_connectome as register_connectome
from ._synthetic import LARVA_MODALITIES as LARVA_MODALITIES
from ._synthetic import LarvaLikeConfig as LarvaLikeConfig
from ._synthetic import larva_like_connectome as larva_like_connectome
from ._shuffle import degree_preserving_shuffle as degree_preserving_shuffle
