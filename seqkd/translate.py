"""``seqkd translate``: raw text in, detokenized translations out, with an exported model."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import BinaryIO, Iterator, List, TextIO

from seqkd.config import MAX_BEAM, setting
from seqkd.decoders import ExportedModel
from seqkd.errors import SeqkdError

logger = logging.getLogger(__name__)


@dataclass
class TranslateConfig:
    """``seqkd translate``'s settings (command-line options, checked like a stage config)."""

    model: str
    beam: int = setting(5, f"beam size (1 to {MAX_BEAM})", min=1, max=MAX_BEAM)
    batch_tokens: int = setting(1024, "batch size in source tokens", min=1)
    max_len: int = setting(200, "maximum output length in pieces", min=1)
    batch_lines: int = setting(256, "lines read before translating a block", min=1)
    vmap: bool = setting(False, "restrict each output to the export's vocabulary map (needs "
                         "`seqkd export --vmap`)")
    max_input_len: int = setting(1024, "longest input in SentencePiece pieces; a longer line "
                                 "is cut to it and named in a warning on stderr", min=1)
    compute_type: str = setting("default", "CTranslate2 compute type ('default': the "
                                "one the model was exported with)")
    threads: int = setting(1, "CPU threads (0: the physical cores this process may use)",
                           min=0)
    parallel: int = setting(1, "batches translated at once, each on --threads threads (for "
                            "throughput on many cores: --threads 1 --parallel CORES)", min=1)

    def load(self) -> ExportedModel:
        return ExportedModel(self.model, beam=self.beam, threads=self.threads,
                             batch_tokens=self.batch_tokens, compute_type=self.compute_type,
                             max_len=self.max_len, max_input_len=self.max_input_len,
                             use_vmap=self.vmap, parallel_batches=self.parallel)


def _blocks(stream: BinaryIO, size: int) -> Iterator[List[str]]:
    """Blocks of decoded lines; on a line that is not UTF-8, the lines before it come out
    first, then the error."""
    block: List[str] = []
    for lineno, raw in enumerate(stream, start=1):
        try:
            block.append(raw.decode("utf-8").rstrip("\r\n"))
        except UnicodeDecodeError:
            if block:
                yield block
            raise SeqkdError(f"standard input, line {lineno}: bytes that are not valid UTF-8; "
                             f"the {lineno - 1} line(s) before it were translated") from None
        if len(block) == size:
            yield block
            block = []
    if block:
        yield block


def translate_stream(model: ExportedModel, inp: BinaryIO, out: TextIO,
                     batch_lines: int = 256) -> int:
    """Translate ``inp`` block by block to ``out``; one output line per input line."""
    n = 0
    for block in _blocks(inp, batch_lines):
        for line in model.translate(block, first_line=n + 1):
            out.write(line + "\n")
        out.flush()
        n += len(block)
    return n
