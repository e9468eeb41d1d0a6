"""An `seqkd export` folder as a translator: its CTranslate2 model with its SentencePiece
model, text in and text out (what `seqkd translate`, `seqkd.load`, the server and the bench
run), and the warning for every line that was cut."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from seqkd.ct2_folder import export_model_dir
from seqkd.decoders import CT2Decoder, Hypotheses
from seqkd.errors import SeqkdError

logger = logging.getLogger(__name__)


class ExportedModel:
    """An `seqkd export` folder: CTranslate2 model plus its SentencePiece model."""

    def __init__(self, model_dir: str | Path, beam: int = 5, threads: int = 0,
                 batch_tokens: int = 1024, compute_type: str = "default", max_len: int = 200,
                 max_input_len: int = 1024, use_vmap: bool = False,
                 parallel_batches: int = 1, no_repeat_ngram: int = 0):
        from seqkd.corpus import load_spm

        d = export_model_dir(model_dir)
        if not d.exists():
            raise SeqkdError(f"{model_dir} does not exist: give the folder `seqkd export` "
                             "wrote (WORK/export-NAME, or its model/)")
        if not (d / "spm.model").is_file():
            raise SeqkdError(f"{model_dir} is not an `seqkd export` folder (no spm.model "
                             "beside model.bin)")
        if not (d / "card.json").is_file():
            done = d / "DONE.json"
            try:
                stage = json.loads(done.read_text()).get("stage") if done.is_file() else None
            except (ValueError, AttributeError, OSError):
                stage = None
            if isinstance(stage, str) and stage != "export":
                raise SeqkdError(f"{model_dir} is the folder of a {stage} stage, not an "
                                 "export: give the folder `seqkd export` wrote (WORK/export-"
                                 "NAME, or its model/)")
            raise SeqkdError(f"{model_dir} has no card.json: the export did not finish; run "
                             "`seqkd export` again")
        if use_vmap and not (d / "vmap.txt").is_file():
            raise SeqkdError(f"{model_dir} has no vocabulary map (vmap.txt): export it with "
                             "`seqkd export --vmap`")
        self.dir = d
        self.card = read_card(d)
        self.sp = load_spm(d / "spm.model")
        self.decoder = CT2Decoder(d, beam=beam, threads=threads, batch_tokens=batch_tokens,
                                  compute_type=compute_type, max_len=max_len,
                                  max_input_len=max_input_len, use_vmap=use_vmap,
                                  parallel_batches=parallel_batches,
                                  no_repeat_ngram=no_repeat_ngram)
        self.max_len, self.max_input_len = max_len, max_input_len

    def translate(self, lines: List[str] | str, first_line: Optional[int] = None
                  ) -> List[str] | str:
        """Translations of ``lines`` (one string: its translation, a string). With
        ``first_line`` (the number of ``lines[0]`` in the input), a warning on stderr names
        every line that was cut (input over ``max_input_len`` pieces, or output stopped at
        ``max_len``). Without it, a text with line breaks has each line translated and keeps
        its breaks (:mod:`seqkd.line_breaks`); with it, each item is one line of a stream
        (``seqkd translate``), translated as it is, so that every output is one line."""
        from seqkd.corpus import text_batch
        from seqkd.line_breaks import each_line

        lines, single = text_batch(lines)
        if first_line is not None:  # a stream's lines, each one sentence: aligned as given
            out = self._translate(lines, first_line)
        else:
            out = each_line(lines, lambda sentences: self._translate(sentences, None))
        return out[0] if single else out

    def _translate(self, lines: List[str], first_line: Optional[int]) -> List[str]:
        from seqkd.corpus import encode_lines

        pieces = encode_lines(self.sp, lines)
        hyps = self.decoder.translate(pieces)
        if first_line is not None:
            warn_cut(pieces, hyps, first_line, self.max_input_len, self.max_len,
                     cut_lines(self))
        return [self.sp.decode(h[0][0]) for h in hyps]

    def hypotheses(self, lines: Sequence[str] | str, beam: Optional[int] = None, nbest: int = 1
                   ) -> List[List[Tuple[str, float]]] | List[Tuple[str, float]]:
        """Each line's ``nbest`` translations with their scores (log-probability per token),
        best first, at ``beam`` (the model's own when None); one string: its list."""
        from seqkd.corpus import encode_lines, text_batch

        lines, single = text_batch(lines)
        hyps = self.decoder.translate(encode_lines(self.sp, lines), beam=beam, nbest=nbest)
        out = [[(self.sp.decode(p), s) for p, s in h] for h in hyps]
        return out[0] if single else out


def read_card(model_dir: Path) -> Dict[str, Any]:
    """An export's ``card.json``, checked as far as its readers rely on it: an object whose
    ``languages`` are [source, target]. seqkd writes it whole, so one that fails was damaged
    afterwards."""
    path = model_dir / "card.json"
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
        langs = card.get("languages") if isinstance(card, dict) else None
        why = "" if isinstance(langs, list) and len(langs) == 2 and all(
            isinstance(x, str) and x for x in langs) else "no [source, target] languages"
    except (OSError, ValueError) as e:
        why = f"{type(e).__name__}: {e}"
    if why:
        raise SeqkdError(f"{path} is damaged ({why}); export the model again (`seqkd export "
                         "... --force`) or copy the folder again from where it was made")
    return card


#: the lines of one kind (input cut, output cut) a stream names in warnings; after that it
#: counts them, and says the count when it ends: a file of a million lines with a loop-prone
#: student would otherwise bury stderr
NAMED_CUTS = 10
_CUT = {"input": "were longer than --max-input-len (only the first pieces translated)",
        "output": "reached --max-len (cut short, or a loop: --no-repeat-ngram 4 guards "
                  "against loops)"}


class CutLines:
    """What a stream's cut lines have been told so far (:func:`warn_cut`), and the count
    that :meth:`close` gives at its end."""

    def __init__(self) -> None:
        self.counts: Dict[str, int] = {}

    def warn(self, kind: str, message: str, *args: Any) -> None:
        n = self.counts[kind] = self.counts.get(kind, 0) + 1
        if n <= NAMED_CUTS:
            logger.warning(message, *args)
        if n == NAMED_CUTS:
            logger.warning("further lines that %s are counted, not named; the count comes at "
                           "the end", _CUT[kind])

    def close(self) -> None:
        for kind, n in self.counts.items():
            if n > NAMED_CUTS:
                logger.warning("%d lines in all %s", n, _CUT[kind])
        self.counts = {}


def cut_lines(model: Any) -> CutLines:
    """The model's record of a stream's cut lines (made on first use)."""
    return model.__dict__.setdefault("cut", CutLines())


def close_cut_lines(model: Any) -> None:
    """The count of a stream's cut lines said, when the model has cut any (the end of the
    stream)."""
    cut = getattr(model, "__dict__", {}).get("cut")
    if cut is not None:
        cut.close()


def warn_cut(pieces: Sequence[Sequence[str]], hyps: List[Hypotheses], first_line: int,
             max_input_len: int, max_len: int, cut: CutLines) -> None:
    """A warning on stderr for a line that was cut: its input over ``max_input_len``
    pieces, or its output stopped at ``max_len`` (the first :data:`NAMED_CUTS` of each kind
    named, the rest counted by ``cut``)."""
    for i, p in enumerate(pieces):
        if len(p) > max_input_len:
            cut.warn("input", "line %d has %d pieces; only the first %d were translated "
                     "(raise --max-input-len to translate more)", first_line + i, len(p),
                     max_input_len)
    for i, h in enumerate(hyps):
        if len(h[0][0]) >= max_len:
            cut.warn("output", "line %d: the translation reached --max-len (%d pieces): cut "
                     "short, or a loop (--no-repeat-ngram 4 guards against loops)",
                     first_line + i, max_len)
