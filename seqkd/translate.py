"""``seqkd translate``: raw text in, detokenized translations out, with an exported model."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import BinaryIO, Iterator, List, TextIO

from seqkd.errors import SeqkdError

logger = logging.getLogger(__name__)


class ExportedModel:
    """An `seqkd export` folder: CTranslate2 model plus its SentencePiece model."""

    def __init__(self, model_dir: str | Path, beam: int = 5, threads: int = 0,
                 batch_tokens: int = 1024, compute_type: str = "default", max_len: int = 200):
        from seqkd.decoders import CT2Decoder
        from seqkd.prepare import load_spm

        d = Path(model_dir)
        if (d / "model" / "model.bin").is_file():
            d = d / "model"
        if not (d / "spm.model").is_file():
            raise SeqkdError(f"{model_dir} is not an `seqkd export` folder (no spm.model "
                             "beside model.bin)")
        self.dir = d
        self.sp = load_spm(d / "spm.model")
        self.decoder = CT2Decoder(d, beam=beam, threads=threads, batch_tokens=batch_tokens,
                                  compute_type=compute_type, max_len=max_len)

    def translate(self, lines: List[str]) -> List[str]:
        pieces = [self.sp.encode(line.strip(), out_type=str) for line in lines]
        return [self.sp.decode(h[0][0]) for h in self.decoder.translate(pieces)]


def _blocks(stream: BinaryIO, size: int) -> Iterator[List[str]]:
    block: List[str] = []
    for lineno, raw in enumerate(stream, start=1):
        try:
            block.append(raw.decode("utf-8").rstrip("\r\n"))
        except UnicodeDecodeError:
            raise SeqkdError(f"standard input, line {lineno}: bytes that are not valid UTF-8") from None
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
        for line in model.translate(block):
            out.write(line + "\n")
        out.flush()
        n += len(block)
    return n
