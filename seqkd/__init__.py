"""seqkd: sequence-level knowledge distillation for neural machine translation.

For a service that embeds an exported student::

    import seqkd

    model = seqkd.load("runs/x/export-seqkd/model", beam=1)
    print(model.translate(["A dog runs on the beach."]))
"""

from __future__ import annotations

import os

from seqkd.errors import SeqkdError
from seqkd.version import __version__


def load(folder: str, beam: int = 1, vmap: bool = False, compute_type: str = "default",
         threads: int = 1, max_len: int = 200, max_input_len: int = 1024,
         batch_tokens: int = 1024, no_repeat_ngram: int = 0):
    """An exported model (the folder `seqkd export` wrote, or its ``model/``), ready to
    translate: ``load(folder).translate(lines)`` returns one detokenized translation per
    line. The same object and the same checks as ``seqkd translate`` (settings out of bounds
    and folders that are not finished exports are one :class:`SeqkdError`); ``vmap`` uses
    the export's vocabulary map, ``compute_type`` overrides the stored one (``int8`` over a
    float32 export with a map is the fastest greedy setting measured); ``no_repeat_ngram``
    forbids an output to repeat an n-gram of that many pieces (a guard against loops)."""
    from seqkd.config import check_config
    from seqkd.translate import TranslateConfig

    if not isinstance(folder, (str, os.PathLike)):
        raise SeqkdError(f"the model must be a folder's path (a string or a Path), got "
                         f"{type(folder).__name__}")
    cfg = TranslateConfig(model=os.fspath(folder), beam=beam, vmap=vmap, compute_type=compute_type,
                          threads=threads, max_len=max_len, max_input_len=max_input_len,
                          batch_tokens=batch_tokens, no_repeat_ngram=no_repeat_ngram)
    check_config(cfg)
    return cfg.load()


__all__ = ["SeqkdError", "__version__", "load"]
