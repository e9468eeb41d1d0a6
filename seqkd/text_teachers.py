"""Teachers that work in text space, for sequence-level KD from any model: raw source lines
in, translations out as text; the student's SentencePiece model is applied to them later, so
the teacher's vocabulary and tokenizer may be anything.

- :class:`Ct2FolderTeacher`: a CTranslate2 model folder (a Marian / OPUS-MT, NLLB, M2M-100,
  OpenNMT or Hugging Face conversion, or an `seqkd export`) with its own SentencePiece
  model(s) and optional source and target prefix tokens (language codes).
- :class:`CommandTeacher`: any program that translates standard input to standard output.

Both answer :meth:`hypotheses`: for each line, its n-best list of ``(text, score)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from seqkd.decoders import export_model_dir
from seqkd.errors import SeqkdError

TextHypotheses = List[Tuple[str, float]]

#: SentencePiece models a converted model folder may hold, joint or (source, target)
JOINT_SPM_NAMES = ("spm.model", "sentencepiece.bpe.model", "sentencepiece.model",
                   "spm.bpe.model")
PAIR_SPM_NAMES = (("source.spm", "target.spm"), ("source.model", "target.model"))


def is_ct2_folder(path: str | os.PathLike) -> bool:
    """A CTranslate2 model folder (model.bin inside), or an `seqkd export` holding one."""
    return (export_model_dir(path) / "model.bin").is_file()


def teacher_tokenizers(folder: str | os.PathLike, spm: Optional[str] = None,
                       target_spm: Optional[str] = None) -> Tuple[Path, Path]:
    """(source, target) SentencePiece models of a CTranslate2 teacher: those named, else
    found in its folder (a source/target pair as OPUS-MT conversions have them, or one joint
    model)."""
    d = export_model_dir(folder)
    if spm:
        source = Path(spm)
    else:
        pair = next(((d / a, d / b) for a, b in PAIR_SPM_NAMES
                     if (d / a).is_file() and (d / b).is_file()), None)
        if pair and not target_spm:
            return pair
        joint = next((d / n for n in JOINT_SPM_NAMES if (d / n).is_file()), None)
        source = pair[0] if pair else joint
        if source is None:
            names = ", ".join([*JOINT_SPM_NAMES, *(f"{a} + {b}" for a, b in PAIR_SPM_NAMES)])
            raise SeqkdError(f"the CTranslate2 teacher {folder} has no SentencePiece model "
                             f"(looked for {names}); name it with --teacher-spm (and "
                             "--teacher-target-spm when the target side has its own)")
    target = Path(target_spm) if target_spm else source
    for what, p in (("--teacher-spm", source), ("--teacher-target-spm", target)):
        if not p.is_file():
            raise SeqkdError(f"{what}: {p} is not a file (the CTranslate2 teacher's "
                             "SentencePiece model)")
    return source, target


def strip_prefix(tokens: List[str], prefix: List[str]) -> List[str]:
    """``tokens`` without the forced ``prefix`` it starts with, and without end markers."""
    if prefix and tokens[: len(prefix)] == prefix:
        tokens = tokens[len(prefix):]
    return [t for t in tokens if t not in ("</s>", "<s>", "<pad>")]


class Ct2FolderTeacher:
    """A CTranslate2 model with its own tokenizer; ``source_prefix`` / ``source_suffix`` /
    ``target_prefix`` are space-separated tokens (e.g. ``eng_Latn`` and ``</s>`` around an
    NLLB source, ``deu_Latn`` as its target prefix). ``threads`` batches at once (bulk work),
    each on ``intra_threads`` threads."""

    name = "ctranslate2 (own tokenizer)"

    def __init__(self, folder: str | os.PathLike, beam: int, nbest: int, batch_tokens: int,
                 max_len: int, threads: int, compute_type: str, device: str = "cpu",
                 spm: Optional[str] = None, target_spm: Optional[str] = None,
                 source_prefix: str = "", source_suffix: str = "", target_prefix: str = "",
                 intra_threads: int = 1, sample: int = 0, seed: int = 1):
        from seqkd.corpus import load_spm
        from seqkd.decoders import CT2Decoder

        src, tgt = teacher_tokenizers(folder, spm, target_spm)
        self.sp_src, self.sp_tgt = load_spm(src), load_spm(tgt)
        self.tokenizers = (src, tgt)
        self.source_prefix, self.source_suffix = source_prefix.split(), source_suffix.split()
        self.target_prefix = target_prefix.split()
        self.decoder = CT2Decoder(export_model_dir(folder), beam=beam, nbest=nbest,
                                  batch_tokens=batch_tokens, max_len=max_len,
                                  threads=intra_threads,
                                  compute_type=compute_type, parallel_batches=threads,
                                  device=device, target_prefix=self.target_prefix,
                                  sample=sample, seed=seed)

    def hypotheses(self, lines: Sequence[str], where: str) -> List[TextHypotheses]:
        pieces = [self.sp_src.encode(line, out_type=str) for line in lines]
        batch = [self.source_prefix + p + self.source_suffix if p else [] for p in pieces]
        return [[(self.sp_tgt.decode(strip_prefix(h, self.target_prefix)), s)
                 for h, s in hyps] for hyps in self.decoder.translate(batch)]


class CommandTeacher:
    """A teacher that is any program: source lines on its stdin, one translation per line on
    its stdout (1-best, text in and out). ``SEQKD_THREADS`` in its environment says how many
    CPU threads it may use; it runs in its own process, killed with seqkd."""

    name = "command"

    def __init__(self, command: str, timeout: float, threads: int = 1):
        self.command = command
        self.timeout = timeout
        self.env = dict(os.environ, SEQKD_THREADS=str(threads))

    def translate_text(self, lines: Sequence[str], where: str) -> List[str]:
        import subprocess

        from seqkd.procs import child_preexec

        data = "".join(line + "\n" for line in lines).encode("utf-8")
        what = f"the teacher command {self.command!r} ({where})"
        try:
            done = subprocess.run(self.command, shell=True, input=data, capture_output=True,
                                  timeout=self.timeout, env=self.env,
                                  preexec_fn=child_preexec())
        except subprocess.TimeoutExpired:
            raise SeqkdError(f"{what} did not finish within {self.timeout:g} s for "
                             f"{len(lines)} lines; raise command_timeout (--command-timeout) "
                             "if it is only slow") from None
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()[-5:]
        if done.returncode != 0:
            raise SeqkdError(f"{what} failed (exit {done.returncode})"
                             + ("; its last lines:\n" + "\n".join(err) if err else ""))
        try:
            text = done.stdout.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SeqkdError(f"{what} wrote bytes that are not UTF-8 (at byte {e.start}); "
                             "make it write UTF-8 text") from None
        out = text.split("\n")
        if out and out[-1] == "":
            out.pop()
        if len(out) != len(lines):
            raise SeqkdError(f"{what} read {len(lines)} lines and wrote {len(out)}: a teacher "
                             "command must write exactly one line per input line, in order")
        return [line.rstrip("\r") for line in out]

    def hypotheses(self, lines: Sequence[str], where: str) -> List[TextHypotheses]:
        """One hypothesis a line (a program gives no scores: 0.0)."""
        return [[(h, 0.0)] for h in self.translate_text(lines, where)]
