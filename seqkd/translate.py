"""``seqkd translate``: raw text in, detokenized translations out, with an exported model."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import BinaryIO, Iterator, List, Optional, TextIO

from seqkd.errors import SeqkdError

logger = logging.getLogger(__name__)


class ExportedModel:
    """An `seqkd export` folder: CTranslate2 model plus its SentencePiece model."""

    def __init__(self, model_dir: str | Path, beam: int = 5, threads: int = 0,
                 batch_tokens: int = 1024, compute_type: str = "default", max_len: int = 200,
                 max_input_len: int = 1024):
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
                                  compute_type=compute_type, max_len=max_len,
                                  max_input_len=max_input_len)
        self.max_len, self.max_input_len = max_len, max_input_len

    def translate(self, lines: List[str], first_line: Optional[int] = None) -> List[str]:
        """Translations of ``lines``. With ``first_line`` (the number of ``lines[0]`` in the
        input), a warning on stderr names every line that was cut (input over
        ``max_input_len`` pieces, or output stopped at ``max_len``)."""
        pieces = [self.sp.encode(line.strip(), out_type=str) for line in lines]
        hyps = self.decoder.translate(pieces)
        if first_line is not None:
            self._warn_cut(pieces, hyps, first_line)
        return [self.sp.decode(h[0][0]) for h in hyps]

    def _warn_cut(self, pieces, hyps, first_line: int) -> None:
        for i, p in enumerate(pieces):
            if len(p) > self.max_input_len:
                logger.warning("line %d has %d pieces; only the first %d were translated "
                               "(raise --max-input-len to translate more)", first_line + i,
                               len(p), self.max_input_len)
        for i, h in enumerate(hyps):
            if len(h[0][0]) >= self.max_len:
                logger.warning("line %d: the translation reached --max-len (%d pieces) and "
                               "may be cut short", first_line + i, self.max_len)


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
