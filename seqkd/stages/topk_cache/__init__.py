"""The the teacher's top-k token distributions, stored for word-level KD room: the teacher's top-k token distributions, stored for word-level KD."""

from seqkd.stages.topk_cache.kind import KIND

__all__ = ["KIND"]
