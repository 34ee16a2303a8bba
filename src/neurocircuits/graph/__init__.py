"""CircuitGraph: node table + edge table, selection, set operations and I/O."""

from ._circuit_graph import CircuitGraph as CircuitGraph
from ._circuit_graph import Edge as Edge
from ._circuit_graph import EdgeKey as EdgeKey
from ._circuit_graph import GraphError as GraphError
from ._circuit_graph import Node as Node
from ._io import GraphFormatError as GraphFormatError
from ._io import from_csv as from_csv
from ._io import from_dict as from_dict
from ._io import from_graphml as from_graphml
from ._io import from_json as from_json
from ._io import from_networkx as from_networkx
from ._io import from_scipy_sparse as from_scipy_sparse
from ._io import to_csv as to_csv
from ._io import to_dict as to_dict
from ._io import to_graphml as to_graphml
from ._io import to_json as to_json
from ._io import to_networkx as to_networkx
from ._io import to_scipy_sparse as to_scipy_sparse
from ._io import write_atomic as write_atomic

