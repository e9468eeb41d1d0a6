"""``seqkd translate``: raw text in, detokenized translations out, with an exported model."""

from __future__ import annotations

import logging
from typing import BinaryIO, Iterator, List, TextIO

from seqkd.decoders import ExportedModel
from seqkd.errors import SeqkdError

logger = logging.getLogger(__name__)


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
