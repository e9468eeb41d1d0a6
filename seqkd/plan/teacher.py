"""A config's teacher section read: the teachers the other stages read (checkpoints, an
ensemble with a teacher trained here, a CTranslate2 folder or a command), and the teacher's
training stage when the config trains one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from seqkd.config import Problems
from seqkd.config_file import fields
from seqkd.plan.step import Step
from seqkd.ct2_folder import is_ct2_folder


@dataclass
class TeacherPlan:
    """What a config's teacher section gives the stages that read the teacher."""
    #: fairseq checkpoints or train folders (several: an ensemble), or one CTranslate2 folder
    teachers: List[str]
    #: a program that translates stdin to stdout (distillation only)
    command: Optional[str]
    #: a CTranslate2 model folder with its own tokenizer (distillation in text space)
    ct2: Optional[str]
    #: that folder's tokenizer settings, for every distill entry and its bench rows
    ct2_tokenizer: Dict[str, Any]


def read_teacher(problems: Problems, teacher: Dict, prep: Any, work: Path, data_dir: Path,
             steps: List[Step]) -> TeacherPlan:
    """The teacher section read (a teacher trained here added to ``steps``)."""
    from seqkd.bench.systems import TOKENIZER_OPTIONS
    from seqkd.train import TrainConfig, train

    teachers: List[str] = []
    #: a program as the teacher: distillation only (no word-level KD, no teacher bench row)
    teacher_command = teacher.get("command")
    #: a CTranslate2 model folder with its own tokenizer: distillation only, in text space
    teacher_ct2 = teacher.get("ct2")
    #: its tokenizer settings: given to every distill entry and to its bench rows
    ct2_tokenizer: Dict[str, Any] = {}
    if teacher_ct2 is not None:
        if not isinstance(teacher_ct2, str) or not is_ct2_folder(teacher_ct2):
            problems.add(f"teacher.ct2: must be a CTranslate2 model folder (model.bin and its "
                         f"SentencePiece model inside), got {teacher_ct2!r}")
            teacher_ct2 = None
        else:
            teachers = [teacher_ct2]
        ct2_tokenizer = {k: teacher[k] for k in TOKENIZER_OPTIONS if k in teacher}
        if set(teacher) - {"ct2", *TOKENIZER_OPTIONS}:
            problems.add("teacher: give command, checkpoints, ct2 (with "
                         f"{', '.join(TOKENIZER_OPTIONS)}) or train, one of them")
    elif teacher_command is not None:
        if not isinstance(teacher_command, str) or not teacher_command.strip():
            problems.add(f"teacher.command: must be a command line, got {teacher_command!r}")
            teacher_command = None
        if set(teacher) - {"command"}:
            problems.add("teacher: give command, checkpoints or train, one of them")
    elif teacher.get("checkpoints") or "train" in teacher:
        if "checkpoints" in teacher:
            if not isinstance(teacher["checkpoints"], list) or not all(
                    isinstance(c, str) for c in teacher["checkpoints"]):
                problems.add("teacher.checkpoints: must be a list of checkpoint paths")
            else:
                teachers = list(teacher["checkpoints"])
            if prep is not None and not (prep.spm_model and prep.dictionary):
                problems.add("with teacher.checkpoints, set data.spm_model and data.dictionary "
                             "to the teacher's SentencePiece model and dictionary")
        if "train" in teacher:
            # trained here; beside checkpoints, a further member of an ensemble with them
            tdir = work / "teacher"
            tcfg = fields(problems, TrainConfig, teacher["train"], "teacher.train",
                           data=str(data_dir), out_dir=str(tdir), role="teacher")
            if tcfg is not None:
                steps.append(Step("teacher", tdir, tcfg, lambda: train(tcfg)))
            # the folder: its averaged checkpoint when trained with average_last, else its best
            teachers.append(str(tdir))
        if set(teacher) - {"checkpoints", "train"}:
            problems.add("teacher: give command, checkpoints, ct2 or train (checkpoints and "
                         "train together: an ensemble of the given checkpoints and the one "
                         "trained here)")
    else:
        problems.add("teacher: set teacher.checkpoints (existing teacher), teacher.train, "
                     "teacher.ct2 (a CTranslate2 model folder with its own tokenizer) or "
                     "teacher.command (a program that translates stdin to stdout)")
    return TeacherPlan(teachers, teacher_command, teacher_ct2, ct2_tokenizer)
