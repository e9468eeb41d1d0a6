"""The distillation room: the teacher translates every source (seq-KD, seq-inter, MBR selection)."""

from seqkd.stages.distill.kind import KIND

__all__ = ["KIND"]
