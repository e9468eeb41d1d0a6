"""The training room: a fairseq teacher or student, optionally with word-level KD."""

from seqkd.stages.train.kind import STUDENT, TEACHER

__all__ = ["STUDENT", "TEACHER"]
