"""Adapters that make models from other libraries discoverable (optional extras; imported lazily)."""
