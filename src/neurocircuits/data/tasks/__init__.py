"""Tasks with clean/corrupt prompt pairs and known mechanisms (induction, IOI, greater-than, docstring)."""

from ._pairs import PromptPairError as PromptPairError
from ._pairs import PromptPairs as PromptPairs
from ._pairs import pairs_from_lists as pairs_from_lists
from ._base import IGNORE as IGNORE
from ._base import TASKS as TASKS
from ._base import Task as Task
from ._base import TrainingBatch as TrainingBatch
from ._base import get_task as get_task
from ._base import list_tasks as list_tasks
from ._base import register_task as register_task
from ._docstring import DocstringTask as DocstringTask
from ._greater_than import GreaterThanTask as GreaterThanTask
from ._induction import InductionTask as InductionTask
from ._ioi import IOITask as IOITask
from ._jsonl import load_pairs_jsonl as load_pairs_jsonl
