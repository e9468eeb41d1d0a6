"""The prepare room: a corpus fetched (or read), cleaned, SentencePiece-encoded and binarized, with monolingual source text."""

from seqkd.stages.prepare.kind import KIND

__all__ = ["KIND"]
