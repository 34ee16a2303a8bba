"""Tasks with clean/corrupt prompt pairs and known mechanisms (induction, IOI, greater-than, docstring)."""

from ._pairs import PromptPairError as PromptPairError
from ._pairs import PromptPairs as PromptPairs
from ._pairs import pairs_from_lists as pairs_from_lists
