"""neurocircuits.data"""
from .connectomes import connectome as connectome
from .connectomes import list_connectomes as list_connectomes
from . import tasks as tasks
