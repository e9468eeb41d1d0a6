"""The systems a bench measures: how one is named on the command line (or in a config), and
the check of a bench's systems before anything is measured. What each kind of system does is
in :mod:`seqkd.stages.bench.kinds`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

from seqkd.config import MAX_BEAM, did_you_mean
from seqkd.ct2_folder import TOKENIZER_OPTIONS
from seqkd.errors import SeqkdError
from seqkd.recorded import SINCE_RECORDED
from seqkd.stages.bench.kinds import KINDS, SystemKind
from seqkd.textio import check_name


def _count(low: int, high: Optional[int] = None) -> Callable[[str], Optional[int]]:
    """A parser of a whole number from ``low`` to ``high``: None for any other text."""
    def parse(value: str) -> Optional[int]:
        ok = value.isdigit() and int(value) >= low and (high is None or int(value) <= high)
        return int(value) if ok else None
    return parse


def _text(value: str) -> Optional[str]:
    return value or None


@dataclass(frozen=True)
class Option:
    """One ``KEY=VALUE`` of a system: the field it sets, how its value is read (None: not
    allowed) and what it takes, said once for the parser, its errors and ``--help``."""
    key: str
    attr: str
    read: Callable[[str], object]
    takes: str


OPTIONS: Tuple[Option, ...] = (
    Option("beam", "beam", _count(1, MAX_BEAM), f"beam=N: the beam size, N from 1 to {MAX_BEAM} "
           "(default: the bench's)"),
    Option("compute_type", "compute_type", _text, "compute_type=T: CTranslate2's (int8, "
           "float32, ...; ct2)"),
    Option("vmap", "vmap", {"0": False, "1": True}.get, "vmap=0|1: the export's vocabulary "
           "map (ct2)"),
    Option("inter", "inter", _count(1), "inter=N: N batches at once, each on the system's "
           "threads (ct2), N >= 1"),
    Option("threads", "threads", _count(1), "threads=N: measured at N threads only, N >= 1"),
    Option("batch", "batch", _count(1), "batch=N: batches of N source tokens, N >= 1"),
    Option("norepeat", "no_repeat_ngram", _count(0, 64), "norepeat=N: no output repeats an "
           "n-gram of N pieces, N from 0 to 64 (0: off)"),
    Option("with", "members", _text, "with=PATH: a further fairseq checkpoint or train folder "
           "decoded together with PATH, an ensemble (repeatable)"),
    # a converted CTranslate2 model (not an `seqkd export`) with its own tokenizer
    *(Option(k, k, _text, f"{k}={v} (ct2)") for k, v in {
        "spm": "FILE: its SentencePiece model, by default the one in its folder",
        "target_spm": "FILE: its target side's, where it has two",
        "source_prefix": "TOKENS: put before each source line (space-separated)",
        "source_suffix": "TOKENS: put after each source line",
        "target_prefix": "TOKENS: put before each output"}.items()),
)
SYNTAX = "NAME=KIND:PATH[,KEY=VALUE...]"
_BY_KEY = {o.key: o for o in OPTIONS}


def options_help() -> str:
    """Every key a system takes, for ``--help`` and errors."""
    return "; ".join(o.takes for o in OPTIONS)


@dataclass
class SystemSpec:
    """One system to measure: ``NAME=KIND:PATH[,KEY=VALUE...]``, the keys those of
    :data:`OPTIONS`."""
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
            raise SeqkdError(f"--system takes {SYNTAX}, got {text!r}")
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
        given: Dict[str, str] = {}
        for opt in options:
            key, sep, value = opt.partition("=")
            if key in given and key != "with":  # with=PATH adds a member each time
                raise SeqkdError(f"--system {name}: {key} is given twice ({given[key]!r} and "
                                 f"{opt!r}); keep one")
            given[key] = opt
            option = _BY_KEY.get(key)
            if option is None and not sep:  # no '=': the rest of a path that holds a comma
                raise SeqkdError(f"--system {name}: {opt!r} is not an option (KEY=VALUE); a "
                                 "comma ends the model path here, so give a path without one "
                                 f"(a link to {path},{opt} from a path without a comma)")
            if option is None:
                raise SeqkdError(f"--system {name}: unknown option {opt!r}"
                                 f"{did_you_mean([key], _BY_KEY)}; the keys are "
                                 f"{', '.join(_BY_KEY)} (`seqkd bench --help` says what "
                                 "each takes)")
            read = option.read(value)
            if read is None:
                raise SeqkdError(f"--system {name}: {opt!r} is not allowed: {option.takes}")
            if option.attr == "members":
                spec.members.append(read)
            else:
                setattr(spec, option.attr, read)
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
    names = [s.name for s in systems]
    for name in names:
        if names.count(name) > 1:  # (the report's rows and output files go by name)
            raise SeqkdError(f"two systems are named {name!r}: give each --system a name "
                             "of its own")
    for spec in systems:
        spec.kind_of.check(spec)
