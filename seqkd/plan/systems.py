"""A student's own bench systems, from the ``bench`` list of its config entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

from seqkd.config import Problems
from seqkd.errors import SeqkdError


def student_systems(problems: Problems, student: str, own: Any,
                    model: Path) -> Optional[List[Any]]:
    """The bench systems of one student's export: ``bench: [{beam: 1, compute_type:
    int8, vmap: true}, ...]`` in its entry, or None (problems noted); [] when the entry
    has none (the bench section's student_beams then apply)."""
    from seqkd.bench import SystemSpec

    if own is None:
        return []
    if not isinstance(own, list) or not all(isinstance(o, dict) for o in own):
        problems.add(f"student {student}: bench must be a list of system settings "
                     f"(beam, compute_type, vmap, inter, threads, batch), got {own!r}")
        return None
    out = []
    for opts in own:
        parts = [f"{k}={int(v) if isinstance(v, bool) else v}" for k, v in opts.items()]
        name = "-".join([student]
                        + (["vmap"] if opts.get("vmap") else [])
                        + ([str(opts["compute_type"])] if "compute_type" in opts else [])
                        + [f"b{opts.get('beam', 'x')}"]
                        + ([f"t{opts['threads']}"] if "threads" in opts else []))
        try:
            out.append(SystemSpec.parse(f"{name}=ct2:{model}," + ",".join(parts)))
        except SeqkdError as e:
            problems.add(f"student {student}: bench {opts!r}: "
                         f"{str(e).split(': ', 1)[-1]}")
            return None
        if out[-1].beam is None:
            problems.add(f"student {student}: bench {opts!r}: give each system a beam")
            return None
    return out
