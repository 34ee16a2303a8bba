"""The model zoo: one file per family, each registering its models with ``@register_model``.

Importing this package imports every family module so that ``list_models()`` sees them all.
"""

from ._registry import MODELS as MODELS
from ._registry import create_model as create_model
from ._registry import list_models as list_models
from ._registry import register_model as register_model

# Family modules (each registers its models on import). Keep one line per family.
from . import transformer as transformer  # noqa: F401
from . import cells as cells  # noqa: F401
from . import spiking as spiking  # noqa: F401
from . import kan as kan  # noqa: F401
from . import connectome as connectome  # noqa: F401
from . import spiking_transformer as spiking_transformer  # noqa: F401
from . import ncap as ncap  # noqa: F401
from . import g2g as g2g  # noqa: F401
from . import flycl as flycl  # noqa: F401
from . import handbuilt as handbuilt  # noqa: F401
from . import pretrained as pretrained  # noqa: F401
from .handbuilt import HandBuiltCircuit as HandBuiltCircuit
from .handbuilt import induction_model as induction_model
from .pretrained import list_pretrained as list_pretrained
from .pretrained import load_pretrained as load_pretrained
from .transformer import HookedTransformer as HookedTransformer
from .transformer import TransformerConfig as TransformerConfig
from . import ftwt as ftwt  # noqa: F401
from . import spiking_lmu as spiking_lmu  # noqa: F401
from . import memories as memories  # noqa: F401
from . import dynamics as dynamics  # noqa: F401
from . import spiking_char_transformer as spiking_char_transformer  # noqa: F401
from . import spiking_diffusion as spiking_diffusion  # noqa: F401
from . import spiking_decision_transformer as spiking_decision_transformer  # noqa: F401
from . import units as units  # noqa: F401
from . import cells2 as cells2  # noqa: F401
from . import units2 as units2  # noqa: F401
from . import gain_control as gain_control  # noqa: F401
from . import hrsnn as hrsnn  # noqa: F401
from . import what_when as what_when  # noqa: F401
from . import ntm as ntm  # noqa: F401
from . import cooperator as cooperator  # noqa: F401
