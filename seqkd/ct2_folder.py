"""What a CTranslate2 model folder is, asked of the file system only (no CTranslate2, no other
seqkd module): the bottom of the import graph, so that checkpoints, teachers and decoders can
all ask it."""

from __future__ import annotations

import os
from pathlib import Path


def export_model_dir(path: str | os.PathLike) -> Path:
    """The CTranslate2 model folder of an `seqkd export` output: ``PATH/model`` when the
    export's top folder is given, else ``PATH`` itself."""
    d = Path(path)
    return d / "model" if (d / "model" / "model.bin").is_file() else d


def is_ct2_folder(path: str | os.PathLike) -> bool:
    """A CTranslate2 model folder (model.bin inside), or an `seqkd export` holding one."""
    return (export_model_dir(path) / "model.bin").is_file()


#: a CTranslate2 model's tokenizer settings, when it brings its own (a teacher folder): its
#: SentencePiece model(s) and the tokens put around each side
TOKENIZER_OPTIONS = ("spm", "target_spm", "source_prefix", "source_suffix", "target_prefix")
