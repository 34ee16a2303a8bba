"""Associative and external memories: Hopfield (classical, dense, modern), SDM, outer-product
memories, memory networks."""

from ._binary import NonBinaryPatternError as NonBinaryPatternError
from ._binary import check_binary as check_binary
from ._dense import DenseHebbianConfig as DenseHebbianConfig
from ._dense import DenseHebbianMemory as DenseHebbianMemory
from ._dense import noisy_examples as noisy_examples
from ._dense import predicted_archetype_overlap as predicted_archetype_overlap
from ._hopfield import HOPFIELD_RULES as HOPFIELD_RULES
from ._hopfield import HopfieldConfig as HopfieldConfig
from ._hopfield import HopfieldNetwork as HopfieldNetwork
from ._hopfield import overlap as overlap
from ._modern import HopfieldLayer as HopfieldLayer
from ._modern import ModernHopfield as ModernHopfield
from ._modern import lse as lse
from ._sdm import SDMConfig as SDMConfig
from ._sdm import SparseDistributedMemory as SparseDistributedMemory
from ._sdm import fit_attention_beta as fit_attention_beta
from ._sdm import intersection_fraction as intersection_fraction
from ._ca3 import CA3Config as CA3Config
from ._ca3 import CA3Memory as CA3Memory
from ._multitask import MultitaskHopfield as MultitaskHopfield
from ._multitask import diluted_patterns as diluted_patterns
from ._multitask import hierarchical_overlaps as hierarchical_overlaps
from ._outer_product import ESTIMATORS as ESTIMATORS
from ._outer_product import associative_memory_error as associative_memory_error
from ._outer_product import zipf_probabilities as zipf_probabilities
from ._willshaw import ConsolidatedHebbianMemory as ConsolidatedHebbianMemory
from ._willshaw import ConsolidationConfig as ConsolidationConfig
from ._willshaw import WillshawMemory as WillshawMemory
from ._willshaw import retrieval_errors as retrieval_errors
from ._willshaw import sparse_patterns as sparse_patterns
from ._memn2n import MemN2N as MemN2N
from ._memn2n import encode_babi as encode_babi
from ._memnn import MemoryNetwork as MemoryNetwork
