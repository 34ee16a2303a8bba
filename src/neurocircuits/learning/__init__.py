"""neurocircuits.learning"""
from ._backprop import Backprop as Backprop
from ._base import ACTIVATIONS as ACTIVATIONS
from ._base import LEARNING_RULES as LEARNING_RULES
from ._base import MLP as MLP
from ._base import History as History
from ._base import LearningRule as LearningRule
from ._base import Trainer as Trainer
from ._base import TrainerConfig as TrainerConfig
from ._base import accuracy as accuracy
from ._base import make_rule as make_rule
from ._base import register_rule as register_rule
from ._predictive_coding import IncrementalPredictiveCoding as IncrementalPredictiveCoding
from ._predictive_coding import PredictiveCoding as PredictiveCoding
from ._predictive_coding import pc_energy as pc_energy
from ._predictive_coding import pc_weight_gradients as pc_weight_gradients
