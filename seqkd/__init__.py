"""seqkd: sequence-level knowledge distillation for neural machine translation."""

__version__ = "0.2.0"

from seqkd.errors import SeqkdError  # noqa: E402

__all__ = ["SeqkdError", "__version__"]
