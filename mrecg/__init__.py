"""mrecg: a reproducible companion to MRECG (Ma et al., CVPR 2023)."""

__version__ = "0.1.0"

from .config import PTQConfig  # noqa: E402
from .evaluation import evaluate  # noqa: E402
from .recon.ptq import PTQReport, quantize  # noqa: E402

__all__ = ["__version__", "PTQConfig", "PTQReport", "evaluate", "quantize"]
