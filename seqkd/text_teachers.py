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

from seqkd.ct2_folder import export_model_dir
from seqkd.errors import SeqkdError
from seqkd.textio import first_line_without_bom

TextHypotheses = List[Tuple[str, float]]

#: SentencePiece models a converted model folder may hold, joint or (source, target)
JOINT_SPM_NAMES = ("spm.model", "sentencepiece.bpe.model", "sentencepiece.model",
                   "spm.bpe.model")
PAIR_SPM_NAMES = (("source.spm", "target.spm"), ("source.model", "target.model"))


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


#: a SentencePiece model whose pieces are less often than this in the model's vocabulary was
#: trained for another vocabulary (a matching one: all but its control pieces)
MIN_SPM_COVERAGE = 0.9


def ct2_vocabularies(folder: str | os.PathLike) -> Tuple[set, set]:
    """(source, target) vocabularies of a CTranslate2 model folder (shared_vocabulary, or
    source_ and target_vocabulary; .json as CTranslate2 4 writes them, or .txt)."""
    import json

    d = export_model_dir(folder)

    def read(stem: str) -> Optional[set]:
        if (d / f"{stem}.json").is_file():
            return set(json.loads((d / f"{stem}.json").read_text(encoding="utf-8")))
        if (d / f"{stem}.txt").is_file():
            return set((d / f"{stem}.txt").read_text(encoding="utf-8").splitlines())
        return None

    shared = read("shared_vocabulary")
    src, tgt = (shared, shared) if shared is not None else (read("source_vocabulary"),
                                                            read("target_vocabulary"))
    if src is None or tgt is None:
        raise SeqkdError(f"the CTranslate2 model folder {d} has no vocabulary file "
                         "(shared_vocabulary.json, or source_ and target_vocabulary.json): "
                         "convert the model again with a ct2-*-converter")
    return src, tgt


def check_ct2_teacher(folder: str | os.PathLike, tokenizers: Tuple[Path, Path],
                      source_prefix: str = "", source_suffix: str = "",
                      target_prefix: str = "") -> None:
    """Before any decoding: the tokens put around a line are in the model's vocabulary (a
    misspelt language code would be <unk> and every output garbage), and each SentencePiece
    model belongs to its side's vocabulary."""
    from seqkd.corpus import load_spm

    src_vocab, tgt_vocab = ct2_vocabularies(folder)
    problems = []
    for what, tokens, vocab, side in (("source_prefix", source_prefix, src_vocab, "source"),
                                      ("source_suffix", source_suffix, src_vocab, "source"),
                                      ("target_prefix", target_prefix, tgt_vocab, "target")):
        unknown = [t for t in tokens.split() if t not in vocab]
        if unknown:
            problems.append(f"{what} token(s) {', '.join(map(repr, unknown))} are not in the "
                            f"model's {side} vocabulary: check the language code (e.g. "
                            "eng_Latn / deu_Latn for NLLB, __en__ / __de__ for M2M-100)")
    for what, path, vocab in (("source", tokenizers[0], src_vocab),
                              ("target", tokenizers[1], tgt_vocab)):
        sp = load_spm(path)
        pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())
                  if not (sp.is_control(i) or sp.is_unknown(i))]
        share = sum(p in vocab for p in pieces) / max(1, len(pieces))
        if share < MIN_SPM_COVERAGE:
            problems.append(f"the {what} SentencePiece model {path} does not belong to the "
                            f"model: only {share:.0%} of its pieces are in the model's {what} "
                            "vocabulary (a model of another vocabulary); give the one it was "
                            "trained with (--teacher-spm / --teacher-target-spm)")
    if problems:
        raise SeqkdError(f"CTranslate2 teacher {folder}: " + "; ".join(problems))


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
                 intra_threads: int = 1, sample: int = 0, seed: int = 1,
                 no_repeat_ngram: int = 0):
        from seqkd.corpus import load_spm
        from seqkd.decoders import CT2Decoder

        src, tgt = teacher_tokenizers(folder, spm, target_spm)
        check_ct2_teacher(folder, (src, tgt), source_prefix, source_suffix, target_prefix)
        self.sp_src, self.sp_tgt = load_spm(src), load_spm(tgt)
        self.tokenizers = (src, tgt)
        self.source_prefix, self.source_suffix = source_prefix.split(), source_suffix.split()
        self.target_prefix = target_prefix.split()
        self.decoder = CT2Decoder(export_model_dir(folder), beam=beam, nbest=nbest,
                                  batch_tokens=batch_tokens, max_len=max_len,
                                  threads=intra_threads,
                                  compute_type=compute_type, parallel_batches=threads,
                                  device=device, target_prefix=self.target_prefix,
                                  sample=sample, seed=seed, no_repeat_ngram=no_repeat_ngram)

    def hypotheses(self, lines: Sequence[str], where: str) -> List[TextHypotheses]:
        pieces = [self.sp_src.encode(line, out_type=str) for line in lines]
        batch = [self.source_prefix + p + self.source_suffix if p else [] for p in pieces]
        return [[(self.sp_tgt.decode(strip_prefix(h, self.target_prefix)), s)
                 for h, s in hyps] for hyps in self.decoder.translate(batch)]


class CommandTeacher:
    """A teacher that is any program: source lines on its stdin, one translation per line on
    its stdout (1-best, text in and out). ``SEQKD_THREADS`` in its environment says how many
    CPU threads it may use. It runs under :mod:`seqkd._guard` in a process group of its own,
    and the whole group is killed after a timeout, an interrupt, or when seqkd dies."""

    name = "command"

    def __init__(self, command: str, timeout: float, threads: int = 1):
        self.command = command
        self.timeout = timeout
        self.env = dict(os.environ, SEQKD_THREADS=str(threads))

    def translate_text(self, lines: Sequence[str], where: str) -> List[str]:
        import subprocess

        from seqkd.procs import child_preexec, kill_group, python_module

        data = "".join(line + "\n" for line in lines).encode("utf-8")
        what = f"the teacher command {self.command!r} ({where})"
        proc = subprocess.Popen([*python_module("seqkd._guard"), self.command],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=self.env, start_new_session=True,
                                preexec_fn=child_preexec(signal_name="SIGTERM"))
        try:
            stdout, stderr = proc.communicate(data, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise SeqkdError(f"{what} did not finish within {self.timeout:g} s for "
                             f"{len(lines)} lines; raise command_timeout (--command-timeout) "
                             "if it is only slow") from None
        finally:  # a timeout, an interrupt or an error: nothing it started stays behind
            kill_group(proc)
        done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
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
        return [first_line_without_bom(line.rstrip("\r"), i) for i, line in enumerate(out, 1)]

    def hypotheses(self, lines: Sequence[str], where: str) -> List[TextHypotheses]:
        """One hypothesis a line (a program gives no scores: 0.0)."""
        return [[(h, 0.0)] for h in self.translate_text(lines, where)]
