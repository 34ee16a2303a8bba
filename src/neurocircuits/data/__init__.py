"""neurocircuits.data"""
from .connectomes import connectome as connectome
from .connectomes import list_connectomes as list_connectomes
from . import tasks as tasks
from . import recordings as recordings
from .recordings import Recording as Recording
from .recordings import read_nwb as read_nwb
from .recordings import write_nwb as write_nwb
from . import generators as generators
