"""Circuit discovery on any model that declares its computation graph (the discovery contract,
written out in ``docs/discovery_contract.md``: writer nodes that add into a stream, reader nodes
whose input is a constant plus the sum of their writers, each naming its hook point).

Example:
    >>> from neurocircuits import discover
    >>> result = discover.discover(model, pairs, method="eap_ig", top_k=20)
    >>> result.circuit, result.faithfulness, discover.roc_auc(result.scores, true_circuit)
"""

from ._api import DiscoveryResult as DiscoveryResult
from ._api import discover as discover
from ._api import list_methods as list_methods
from ._engine import PatchEngine as PatchEngine
from ._engine import TaskNotPerformedError as TaskNotPerformedError
from ._engine import TaskNotPerformedWarning as TaskNotPerformedWarning
from ._eval import Faithfulness as Faithfulness
from ._eval import circuit_mask as circuit_mask
from ._eval import faithfulness as faithfulness
from ._eval import faithfulness_curve as faithfulness_curve
from ._eval import roc_auc as roc_auc
from ._examples import PlantedResidualMLP as PlantedResidualMLP
from ._examples import planted_mlp_pairs as planted_mlp_pairs
from ._index import DiscoveryError as DiscoveryError
from ._inputs import InputPairs as InputPairs
from ._index import GraphIndex as GraphIndex
from ._index import build_index as build_index
from ._methods import METHODS as METHODS
from ._methods import MethodOutput as MethodOutput
from ._metrics import ABLATIONS as ABLATIONS
from ._metrics import METRICS as METRICS
from ._metrics import list_ablations as list_ablations
from ._metrics import list_metrics as list_metrics
