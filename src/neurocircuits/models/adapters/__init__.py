"""Adapters that make models from other libraries discoverable (optional extras; imported lazily)."""
from .hf import HFAdapterError as HFAdapterError
from .hf import HFTransformer as HFTransformer
from .hf import from_hf_model as from_hf_model
from .hf import load_hf_model as load_hf_model
