"""The export room: CTranslate2 with its SentencePiece model and card."""

from seqkd.stages.export.kind import KIND

__all__ = ["KIND"]
