"""``seqkd translate``: raw text in, detokenized translations out, with an exported model
(CTranslate2) or with fairseq checkpoints (one, or an ensemble) and the data they were
trained on."""

from __future__ import annotations

import logging
import os
import select
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, List, Optional, TextIO, Tuple

from seqkd.config import MAX_BEAM, setting
from seqkd.exported import ExportedModel, close_cut_lines, cut_lines, warn_cut
from seqkd.errors import FULL, SeqkdError, stdout_full_message
from seqkd.ct2_folder import is_ct2_folder
from seqkd.textio import first_line_without_bom, progress

logger = logging.getLogger(__name__)


@dataclass
class TranslateConfig:
    """``seqkd translate``'s settings (command-line options, checked like a stage config)."""

    model: str
    data: Optional[str] = setting(None, "for a fairseq MODEL (a checkpoint or `seqkd train` "
                                  "folder): the `seqkd prepare` folder it was trained on (its "
                                  "dictionary and SentencePiece model)")
    ensemble: List[str] = setting(help="further fairseq checkpoints (or train folders) that "
                                  "translate together with MODEL, an ensemble (their "
                                  "probabilities averaged)", metavar="CHECKPOINT",
                                  default_factory=list)
    beam: int = setting(5, f"beam size (1 to {MAX_BEAM})", min=1, max=MAX_BEAM)
    batch_tokens: int = setting(1024, "batch size in source tokens", min=1)
    max_len: int = setting(200, "maximum output length in pieces", min=1)
    batch_lines: int = setting(256, "lines read before translating a block (fewer when no "
                               "more input is ready)", min=1)
    vmap: bool = setting(False, "restrict each output to the export's vocabulary map (needs "
                         "`seqkd export --vmap`)")
    max_input_len: int = setting(1024, "longest input in SentencePiece pieces; a longer line "
                                 "is cut to it and named in a warning on stderr", min=1)
    compute_type: str = setting("default", "CTranslate2 compute type ('default': the "
                                "one the model was exported with)")
    threads: int = setting(1, "CPU threads (0: the physical cores this process may use)",
                           min=0)
    no_repeat_ngram: int = setting(0, "no output repeats an n-gram of this many "
                                   "SentencePiece pieces (0: off); a guard against a small "
                                   "student's loops, which run to --max-len (a choice to make "
                                   "on development data: docs/RESULTS.md)", min=0, max=64)
    parallel: int = setting(1, "batches translated at once, each on --threads threads (for "
                            "throughput on many cores: --threads 1 --parallel CORES)", min=1)

    def __post_init__(self):
        """Rules that combine settings: an export carries its own tokenizer and runs alone;
        a fairseq model needs its data and takes no CTranslate2 option."""
        problems = []
        if self.is_fairseq():
            if not self.data:
                problems.append(f"{self.model} is a fairseq checkpoint: give the `seqkd "
                                "prepare` folder it was trained on with --data")
            ct2 = [flag for flag, on in (("--vmap", self.vmap),
                                         ("--compute-type", self.compute_type != "default"),
                                         ("--parallel", self.parallel > 1)) if on]
            if ct2:
                problems.append(f"{', '.join(ct2)}: options of an exported (CTranslate2) model, "
                                "not of a fairseq checkpoint")
        elif is_ct2_folder(self.model):
            if self.data:
                problems.append(f"{self.model} is an exported model with its own SentencePiece "
                                "model: leave out --data (it is for fairseq checkpoints)")
            if self.ensemble:
                problems.append("an exported model translates alone: --ensemble takes fairseq "
                                "checkpoints, with a fairseq checkpoint as MODEL")
        if problems:
            raise SeqkdError("; ".join(problems))

    def is_fairseq(self) -> bool:
        """MODEL is read as fairseq checkpoint(s): a file, a `seqkd train` folder, or
        anything that is not an export when --data or --ensemble is given."""
        if is_ct2_folder(self.model):
            return False
        p = Path(self.model)
        return bool(p.is_file() or (p / "checkpoints").is_dir() or self.data or self.ensemble)

    def load(self):
        """The model, ready to translate: an :class:`ExportedModel` or a
        :class:`FairseqModel`."""
        if self.is_fairseq():
            return FairseqModel([self.model, *self.ensemble], self.data, beam=self.beam,
                                threads=self.threads, batch_tokens=self.batch_tokens,
                                max_len=self.max_len, max_input_len=self.max_input_len,
                                no_repeat_ngram=self.no_repeat_ngram)
        return ExportedModel(self.model, beam=self.beam, threads=self.threads,
                             batch_tokens=self.batch_tokens, compute_type=self.compute_type,
                             max_len=self.max_len, max_input_len=self.max_input_len,
                             use_vmap=self.vmap, parallel_batches=self.parallel,
                             no_repeat_ngram=self.no_repeat_ngram)


class FairseqModel:
    """fairseq checkpoints (one, or an ensemble) with the prepare folder they were trained
    on: the teacher as the pipeline decodes it, for text in and text out."""

    def __init__(self, checkpoints: List[str], data: str, beam: int = 5, threads: int = 1,
                 batch_tokens: int = 1024, max_len: int = 200, max_input_len: int = 1024,
                 no_repeat_ngram: int = 0):
        from seqkd.checkpoints import check_checkpoint, checkpoint_of
        from seqkd.corpus import Prepared, load_spm
        from seqkd.decoders import FairseqDecoder
        from seqkd.dictionaries import check_checkpoint_dictionary

        prepared = Prepared(data)
        paths: List[Path] = []
        for c in checkpoints:
            # a train folder stands for its checkpoint file; the dictionary is the file's
            paths.append(check_checkpoint(checkpoint_of(c), "checkpoint"))
            check_checkpoint_dictionary(paths[-1], prepared.dictionary, "checkpoint")
        self.sp = load_spm(prepared.spm)
        self.decoder = FairseqDecoder(paths, prepared.bin, beam=beam, batch_tokens=batch_tokens,
                                      max_len=max_len, threads=threads,
                                      no_repeat_ngram=no_repeat_ngram)
        # the model's positions bound the input too (fairseq would refuse a longer one)
        self.max_input_len = min(max_input_len, self.decoder.max_positions - 1)
        self.max_len = max_len

    #: the same text API as an export's (one string or a list; a stream's lines as given,
    #: a text's lines one by one); only how a batch of sentences is decoded differs
    translate = ExportedModel.translate

    def _translate(self, lines: List[str], first_line: Optional[int]) -> List[str]:
        from seqkd.corpus import encode_lines

        pieces = encode_lines(self.sp, lines)
        hyps = self.decoder.translate([p[: self.max_input_len] for p in pieces])
        if first_line is not None:
            warn_cut(pieces, hyps, first_line, self.max_input_len, self.max_len,
                     cut_lines(self))
        return [self.sp.decode(h[0][0]) for h in hyps]


def _lines(stream: BinaryIO) -> Iterator[Tuple[bytes, bool]]:
    """The stream's lines, each with whether more input is ready at once. A writer that
    sends a line and waits for its translation (a pipe to another program, a terminal) gets
    it, instead of a block's worth of lines later; a file's lines are all ready. A stream
    without a file number (a BytesIO) is read as a file."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError
        for raw in stream:
            yield raw, True
        return
    parts: List[bytes] = []  # the line read in part so far
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            break
        if b"\n" not in chunk:
            parts.append(chunk)
            continue
        lines = chunk.split(b"\n")
        lines[0] = b"".join(parts + [lines[0]])
        tail = lines.pop()  # b"" when the chunk ends a line
        parts = [tail] if tail else []
        ready = bool(select.select([fd], [], [], 0)[0])
        for i, line in enumerate(lines, start=1):
            yield line + b"\n", ready or i < len(lines)
    if parts:
        yield b"".join(parts), False


def _blocks(stream: BinaryIO, size: int) -> Iterator[List[str]]:
    """Blocks of decoded lines, up to ``size`` of them, or fewer when no more input is
    ready; on a line that is not UTF-8, the lines before it come out first, then the
    error."""
    block: List[str] = []
    for lineno, (raw, more) in enumerate(_lines(stream), start=1):
        try:
            block.append(first_line_without_bom(raw.decode("utf-8").rstrip("\r\n"), lineno))
        except UnicodeDecodeError:
            if block:
                yield block
            raise SeqkdError(f"standard input, line {lineno}: bytes that are not valid UTF-8; "
                             f"the {lineno - 1} line(s) before it were translated") from None
        if len(block) == size or not more:
            yield block
            block = []
    if block:
        yield block


def translate_stream(model, inp: BinaryIO, out: TextIO,
                     batch_lines: int = 256) -> int:
    """Translate ``inp`` block by block to ``out``; one output line per input line. The
    lines that were cut are named in warnings (the first few of each kind), and counted at
    the end."""
    n = 0
    bar = progress(desc="translate", unit=" lines", leave=False)
    try:
        for block in _blocks(inp, batch_lines):
            lines = model.translate(block, first_line=n + 1)
            try:
                out.write("".join(line + "\n" for line in lines))
                out.flush()
            except OSError as e:
                if e.errno not in FULL:
                    raise
                raise SeqkdError(stdout_full_message(n)) from None
            n += len(block)
            bar.update(len(block))
    finally:
        bar.close()
        close_cut_lines(model)
    return n
