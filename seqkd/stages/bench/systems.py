"""The systems a bench measures: how one is named on the command line (or in a config), and
the check of a bench's systems before anything is measured. What each kind of system does is
in :mod:`seqkd.stages.bench.kinds`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional

from seqkd.config import MAX_BEAM
from seqkd.ct2_folder import TOKENIZER_OPTIONS
from seqkd.errors import SeqkdError
from seqkd.recorded import SINCE_RECORDED
from seqkd.stages.bench.kinds import KINDS, SystemKind
from seqkd.textio import check_name


@dataclass
class SystemSpec:
    """One system to measure: ``NAME=KIND:PATH[,beam=N][,compute_type=T][,vmap=0|1]
    [,inter=N][,threads=N][,batch=N][,norepeat=N]``; a fairseq ensemble adds ``,with=PATH``
    per further member."""
    name: str
    kind: str
    path: str
    beam: Optional[int] = None
    compute_type: str = "default"
    #: restrict the output vocabulary with the export's vocabulary map (ct2 only)
    vmap: bool = False
    #: CTranslate2 inter_threads: batches translated at once, each on ``threads`` threads
    inter: int = 1
    #: measured at this thread count only (default: the bench's --threads)
    threads: Optional[int] = None
    #: batch size in source tokens (default: the bench's --batch-tokens)
    batch: Optional[int] = None
    #: no output repeats an n-gram of this many pieces (0: off; both kinds)
    no_repeat_ngram: int = field(default=0, metadata=SINCE_RECORDED)
    #: a CTranslate2 folder that is not an `seqkd export` (a converted OPUS-MT, NLLB, ...
    #: model): its own SentencePiece model(s), found in it unless named, and the tokens put
    #: around each source line and before each output (space-separated)
    spm: Optional[str] = None
    target_spm: Optional[str] = None
    source_prefix: str = ""
    source_suffix: str = ""
    target_prefix: str = ""
    #: further fairseq checkpoints (or train folders) decoded together with ``path``: an
    #: ensemble, whose members share the data's dictionary
    members: List[str] = field(default_factory=list)

    @property
    def paths(self) -> List[str]:
        """Every model path: ``path`` and the ensemble's further members."""
        return [self.path, *self.members]

    @property
    def kind_of(self) -> "SystemKind":
        return KINDS[self.kind]

    @classmethod
    def parse(cls, text: str) -> "SystemSpec":
        if "=" not in text or ":" not in text.split("=", 1)[1]:
            raise SeqkdError(f"--system takes NAME=KIND:PATH[,beam=N][,compute_type=T], "
                             f"got {text!r}")
        name, rest = text.split("=", 1)
        kind, rest = rest.split(":", 1)
        path, *options = rest.split(",")
        if not name.strip():
            raise SeqkdError(f"--system {text!r}: give the system a name before '=' "
                             "(it labels the report's row)")
        check_name(name, "--system name")
        if not path.strip():
            raise SeqkdError(f"--system {name}: give the model path after '{kind}:' (a "
                             "checkpoint or train folder for fairseq, an export folder for ct2)")
        if kind not in KINDS:
            raise SeqkdError(f"--system {name}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        spec = cls(name=name, kind=kind, path=path)
        for opt in options:
            key, _, value = opt.partition("=")
            if key == "beam" and value.isdigit() and 1 <= int(value) <= MAX_BEAM:
                spec.beam = int(value)
            elif key == "compute_type" and value:
                spec.compute_type = value
            elif key == "vmap" and value in ("0", "1"):
                spec.vmap = value == "1"
            elif key in ("inter", "threads", "batch") and value.isdigit() and int(value) >= 1:
                setattr(spec, key, int(value))
            elif key == "norepeat" and value.isdigit() and int(value) <= 64:
                spec.no_repeat_ngram = int(value)
            elif key in TOKENIZER_OPTIONS and value:
                setattr(spec, key, value)
            elif key == "with" and value:
                spec.members.append(value)
            else:
                raise SeqkdError(f"--system {name}: unknown option {opt!r} (beam=N with N "
                                 f"from 1 to {MAX_BEAM}, compute_type=T, vmap=0|1, inter=N, "
                                 "threads=N or batch=N, N >= 1; norepeat=N, N from 0 to 64; "
                                 "with=PATH for a fairseq "
                                 "ensemble's further member; for a converted CTranslate2 "
                                 f"model {', '.join(o + '=' for o in TOKENIZER_OPTIONS)})")
        if not spec.kind_of.ct2_options and (spec.compute_type != "default" or spec.vmap
                                             or spec.inter > 1 or spec.own_tokenizer()):
            raise SeqkdError(f"--system {name}: compute_type, vmap, inter and the tokenizer "
                             "options are for ct2 systems")
        if spec.members and spec.kind_of.ct2_options:
            raise SeqkdError(f"--system {name}: with=PATH makes a fairseq ensemble; a "
                             "CTranslate2 model translates alone")
        return spec

    def own_tokenizer(self) -> Dict[str, str]:
        """The tokenizer options given (a converted CTranslate2 model's)."""
        return {k: getattr(self, k) for k in TOKENIZER_OPTIONS if getattr(self, k)}


def check_systems(systems: List[SystemSpec]) -> None:
    """Every system's model is there and readable, and names are unique."""
    if not systems:
        raise SeqkdError("give at least one --system NAME=KIND:PATH")
    for spec in systems:
        spec.kind_of.check(spec)
    names = [s.name for s in systems]
    if len(set(names)) != len(names):
        raise SeqkdError(f"system names must be unique: {names}")
