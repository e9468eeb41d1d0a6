"""The kinds of teacher, one table (as the bench's system ``KINDS``): fairseq checkpoints (one,
or several as an ensemble), a CTranslate2 model folder with its own tokenizer, or any program.
Each kind says how it is recognised from what the user gave, which distillation settings it
takes, whether it works in text space (its own tokenizer, any vocabulary) and whether it gives
token distributions over the data's vocabulary (word-level KD and the top-k cache need them),
how it is checked before any decoding, the files a stamp records, how a text-space one is made
and how the bench measures it. Nothing else asks the file system what a teacher is: a new kind
is one class and one line in :data:`TEACHER_KINDS`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from seqkd.ct2_folder import TOKENIZER_OPTIONS, export_model_dir, is_ct2_folder

#: distill settings that only a teacher with its own tokenizer takes
OWN_TOKENIZER = ("teacher_spm", "teacher_target_spm", "source_prefix", "source_suffix",
                 "target_prefix")


class TeacherKind:
    """What every kind answers; see the module's docstring."""
    name = ""
    #: how a message names it
    described = ""
    #: translates raw text with its own tokenizer (distill decodes it in text space)
    text_space = False
    #: gives token distributions over the data's vocabulary (word-level KD, top-k cache)
    distributions = False
    #: `seqkd export` converts it to CTranslate2 like a student (bench teacher_ct2_beams)
    exportable = False

    @staticmethod
    def recognise(teachers: Sequence[str], command: Optional[str]) -> bool:
        raise NotImplementedError

    def problems(self, cfg: Any) -> List[str]:
        """What is wrong with a distill config's settings for this kind."""
        own = [k for k in OWN_TOKENIZER if getattr(cfg, k)]
        return [f"{', '.join(own)}: only for a teacher that is a CTranslate2 model folder "
                "with its own tokenizer"] if own else []

    def check(self, cfg: Any, dictionary: Path) -> Any:
        """Before any decoding: the teacher's files, against the data's ``dictionary`` when
        it decodes in the data's vocabulary; the config to decode with."""
        return cfg

    def input_files(self, cfg: Any) -> List[Path]:
        """The teacher's files whose digests a distill stamp records."""
        return []

    def text_teacher(self, cfg: Any, threads: int):
        """(the teacher, what the report says of it), for a text-space kind."""
        raise NotImplementedError(self.name)

    def bench_rows(self, teachers: Sequence[str], beams: Sequence[int],
                   tokenizer: Dict[str, Any]) -> List[Dict[str, Any]]:
        """The bench systems measuring it as it taught (SystemSpec fields), at ``beams``."""
        return []


class FairseqTeacher(TeacherKind):
    """fairseq checkpoints or `seqkd train` folders; several: an ensemble (decoded by
    fairseq); one: also by CTranslate2, converted on the fly."""
    name, distributions, exportable = "fairseq", True, True
    described = "a fairseq teacher"

    @staticmethod
    def recognise(teachers, command):
        return not command

    def problems(self, cfg):
        out = super().problems(cfg)
        if cfg.decoder == "command":
            out.append("the command decoder needs the command: --teacher-command CMD")
            if cfg.teachers:
                out.append("a teacher command replaces teacher checkpoints: give one or the "
                           "other")
        elif not cfg.teachers:
            out.append("give the teacher: checkpoint(s) with --teacher, or a program with "
                       "--teacher-command (in a config, the teacher section)")
        elif len(cfg.teachers) > 1 and cfg.decoder == "ctranslate2":
            out.append(f"the ctranslate2 decoder takes one teacher; decode the ensemble of "
                       f"{len(cfg.teachers)} with decoder fairseq (--decoder fairseq)")
        return out

    def check(self, cfg, dictionary):
        import dataclasses

        from seqkd.checkpoints import check_checkpoint, checkpoint_of
        from seqkd.dictionaries import check_checkpoint_dictionary

        # the stamp keeps the teachers as given (a train folder stays a folder); the decoder
        # gets the checkpoint files they stand for
        cfg = dataclasses.replace(cfg, teachers=[
            str(check_checkpoint(checkpoint_of(t), "teacher checkpoint")) for t in cfg.teachers])
        for t in cfg.teachers:
            check_checkpoint_dictionary(t, dictionary, "teacher")
        return cfg

    def input_files(self, cfg):
        from seqkd.checkpoints import resolved_checkpoints
        return list(resolved_checkpoints(cfg.teachers))

    def bench_rows(self, teachers, beams, tokenizer):
        rows = [dict(name="teacher", kind="fairseq", path=teachers[0])]
        if len(teachers) > 1:  # the ensemble that taught, decoded as it distilled
            rows.append(dict(name="teacher-ensemble", kind="fairseq", path=teachers[0],
                             members=list(teachers[1:])))
        return rows


class Ct2FolderTeacher(TeacherKind):
    """A CTranslate2 model folder with its own SentencePiece model(s), whatever its
    vocabulary (OPUS-MT, NLLB, M2M-100, ...): distillation in text space."""
    name, text_space = "ctranslate2 folder", True
    described = "a teacher given as a CTranslate2 folder"

    @staticmethod
    def recognise(teachers, command):
        return not command and any(is_ct2_folder(t) for t in teachers)

    def problems(self, cfg):
        out = []
        if len(cfg.teachers) > 1:
            out.append("a CTranslate2 model folder teaches alone (no ensembles)")
        if cfg.decoder != "ctranslate2":
            out.append("a CTranslate2 model folder as the teacher decodes with decoder "
                       f"ctranslate2, not {cfg.decoder}")
        return out

    def check(self, cfg, dictionary):
        from seqkd.text_teachers import check_ct2_teacher, teacher_tokenizers

        check_ct2_teacher(cfg.teachers[0], teacher_tokenizers(
            cfg.teachers[0], cfg.teacher_spm, cfg.teacher_target_spm), cfg.source_prefix,
            cfg.source_suffix, cfg.target_prefix)
        return cfg

    def input_files(self, cfg):
        d = export_model_dir(cfg.teachers[0])
        named = [Path(p) for p in (cfg.teacher_spm, cfg.teacher_target_spm) if p]
        return [d / "model.bin", *named,
                *(f for f in sorted(d.glob("*")) if f.suffix in (".spm", ".model"))]

    def text_teacher(self, cfg, threads):
        from seqkd.text_teachers import Ct2FolderTeacher as Teacher

        # ``sample``: candidates drawn by sampling (for MBR) instead of the beam's n-best
        teacher = Teacher(cfg.teachers[0], beam=cfg.beam, nbest=cfg.n_hypotheses(),
                          batch_tokens=cfg.batch_tokens, max_len=cfg.max_len, threads=threads,
                          compute_type=cfg.compute_type, device=cfg.device,
                          spm=cfg.teacher_spm, target_spm=cfg.teacher_target_spm,
                          source_prefix=cfg.source_prefix, source_suffix=cfg.source_suffix,
                          target_prefix=cfg.target_prefix, sample=cfg.sample, seed=cfg.seed)
        return teacher, {"decoder": "ctranslate2 folder", "teacher": cfg.teachers[0],
                         "tokenizers": [str(p) for p in teacher.tokenizers]}

    def bench_rows(self, teachers, beams, tokenizer):
        # measured with its own tokenizer, as it taught
        return [dict(name=f"teacher-ct2-b{b}", kind="ct2", path=teachers[0], beam=b,
                     **{k: v for k, v in tokenizer.items() if k in TOKENIZER_OPTIONS})
                for b in beams]


class CommandTeacher(TeacherKind):
    """Any program: source lines on its standard input, one translation a line on its
    standard output (1-best, text in and out, no scores)."""
    name, text_space = "command", True
    described = "a teacher command"

    @staticmethod
    def recognise(teachers, command):
        return bool(command)

    def problems(self, cfg):
        out = super().problems(cfg)
        if cfg.decoder != "command":
            out.append(f"--teacher-command runs the teacher as a program: use decoder "
                       f"command, not {cfg.decoder}")
        if cfg.teachers:
            out.append("a teacher command replaces teacher checkpoints: give one or the other")
        if cfg.method != "seq-kd" or cfg.select != "best":
            out.append("a teacher command gives one translation per line: use method seq-kd "
                       "with select best (seq-inter and mbr need n-best lists)")
        if cfg.min_score is not None:
            out.append("min_score filters on the teacher's scores; a teacher command gives "
                       "none: leave min_score out")
        return out

    def text_teacher(self, cfg, threads):
        from seqkd.text_teachers import CommandTeacher as Teacher

        return (Teacher(cfg.teacher_command, cfg.command_timeout, threads),
                {"decoder": "command", "command": cfg.teacher_command})


#: the kinds, the first that recognises what was given wins
TEACHER_KINDS: List[TeacherKind] = [CommandTeacher(), Ct2FolderTeacher(), FairseqTeacher()]


def teacher_kind(teachers: Sequence[str | os.PathLike],
                 command: Optional[str] = None) -> TeacherKind:
    """The kind of the teacher given as ``teachers`` (paths) or ``command``."""
    paths = [str(t) for t in teachers]
    return next(k for k in TEACHER_KINDS if k.recognise(paths, command))


def kind_named(name: str) -> TeacherKind:
    return next(k for k in TEACHER_KINDS if k.name == name)
