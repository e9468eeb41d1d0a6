"""One table of bench system kinds (fairseq checkpoints, CTranslate2 folders) that says for
each kind how its model is checked, loaded, sized and shaped, so that no other bench module
asks which kind it has. A new kind is one class and one entry in ``KINDS``."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

from seqkd.errors import SeqkdError

logger = logging.getLogger("seqkd.bench.kinds")


@dataclass
class Loaded:
    """A system ready to translate, in the measuring child."""
    translate: Callable[[List[str]], List[str]]
    compute_type: str
    #: parameters (fairseq; tied weights once), None where the kind does not count them
    params: Optional[int]
    #: the model as stored (checkpoint file or model folder)
    disk_bytes: int
    #: the weights as deployed (float32 parameters for fairseq, the folder for CTranslate2)
    deployed_bytes: int


class SystemKind:
    """What the bench needs of one kind of system."""
    #: takes compute_type, vmap and inter (CTranslate2's options)
    ct2_options = False
    def deploys(self, spec) -> bool:
        """Whether it runs through `seqkd translate`, the deployed path (the efficiency
        protocol's systems)."""
        return False

    def check(self, spec) -> None:
        """Refuse a model that is not there or not readable, before anything is measured."""
        raise NotImplementedError

    def model_files(self, spec) -> List[Path]:
        """The files whose digests stamp the bench (a changed model measures again)."""
        raise NotImplementedError

    def load(self, spec, data: Path, beam: int, batch_tokens: int, threads: int,
             max_len: int) -> Loaded:
        raise NotImplementedError

    def shape(self, spec):
        """The model's :class:`~seqkd.model_cost.ModelShape`, or None when it is not known."""
        raise NotImplementedError

    def library(self, versions: Dict[str, str]) -> str:
        raise NotImplementedError


class FairseqKind(SystemKind):
    def check(self, spec) -> None:
        from seqkd.checkpoints import check_checkpoint, checkpoint_of

        for path in spec.paths:
            check_checkpoint(checkpoint_of(path, f"measure it as {spec.name}=ct2:{path}"),
                             f"--system {spec.name}: checkpoint")

    def model_files(self, spec) -> List[Path]:
        from seqkd.checkpoints import resolved_checkpoints

        return resolved_checkpoints(spec.paths)

    def load(self, spec, data, beam, batch_tokens, threads, max_len) -> Loaded:
        import torch

        from seqkd.checkpoints import checkpoint_of
        from seqkd.corpus import Prepared, decode_text, load_spm
        from seqkd.decoders import FairseqDecoder

        torch.set_num_threads(threads)
        prepared = Prepared(data)
        ckpts = [checkpoint_of(p) for p in spec.paths]
        dec = FairseqDecoder(ckpts, prepared.bin, beam=beam, batch_tokens=batch_tokens,
                             max_len=max_len, threads=threads,
                             no_repeat_ngram=spec.no_repeat_ngram)
        sp = load_spm(prepared.spm)
        # parameters() yields a tied weight (shared embeddings) once; an ensemble's members
        # add up
        params = sum(p.numel() for m in dec.models for p in m.parameters())
        return Loaded(lambda lines: decode_text(dec, sp, lines), "float32", params,
                      sum(c.stat().st_size for c in ckpts), 4 * params)

    def shape(self, spec):
        from seqkd.checkpoints import checkpoint_of, checkpoint_shape

        if spec.members:
            logger.info("%s: an ensemble; the row has no MACs per token", spec.name)
            return None
        return checkpoint_shape(checkpoint_of(spec.path))

    def library(self, versions: Dict[str, str]) -> str:
        return f"fairseq{versions.get('fairseq')}+torch{versions.get('torch')}"


class Ct2Kind(SystemKind):
    ct2_options = True

    def deploys(self, spec) -> bool:
        from seqkd.ct2_folder import export_model_dir

        return _is_export(export_model_dir(spec.path)) and not spec.own_tokenizer()

    def check(self, spec) -> None:
        from seqkd.ct2_folder import export_model_dir
        from seqkd.text_teachers import teacher_tokenizers

        d = export_model_dir(spec.path)
        if not (d / "model.bin").is_file():
            raise SeqkdError(f"--system {spec.name}: {spec.path} is not a CTranslate2 model "
                             "folder (no model.bin): an `seqkd export` folder or a converted "
                             "model with its SentencePiece model")
        if not _is_export(d) or spec.own_tokenizer():
            teacher_tokenizers(d, spec.spm, spec.target_spm)
            if spec.vmap:
                raise SeqkdError(f"--system {spec.name}: vmap=1 is for `seqkd export` "
                                 "folders (their card names the map)")
        if spec.compute_type != "default":
            import ctranslate2

            supported = ctranslate2.get_supported_compute_types("cpu")
            if spec.compute_type not in supported:
                raise SeqkdError(f"--system {spec.name}: compute_type {spec.compute_type} is "
                                 "not supported on this CPU; it supports "
                                 f"{', '.join(sorted(supported))}")
        if spec.vmap and not (d / "vmap.txt").is_file():
            raise SeqkdError(f"--system {spec.name}: {spec.path} has no vocabulary map "
                             "(vmap.txt); export it with `seqkd export --vmap`")

    def model_files(self, spec) -> List[Path]:
        from seqkd.ct2_folder import export_model_dir

        return [export_model_dir(spec.path) / "model.bin"]

    def load(self, spec, data, beam, batch_tokens, threads, max_len) -> Loaded:
        from seqkd.ct2_folder import export_model_dir
        from seqkd.exported import ExportedModel

        d = export_model_dir(spec.path)
        size = sum(f.stat().st_size for f in d.iterdir() if f.is_file())
        if _is_export(d) and not spec.own_tokenizer():
            model = ExportedModel(spec.path, beam=beam, threads=threads,
                                  batch_tokens=batch_tokens, compute_type=spec.compute_type,
                                  max_len=max_len, use_vmap=spec.vmap,
                                  parallel_batches=spec.inter,
                                  no_repeat_ngram=spec.no_repeat_ngram)
            return Loaded(model.translate, model.decoder.translator.compute_type, None, size,
                          size)
        from seqkd.text_teachers import Ct2FolderTeacher

        # a converted model with its own tokenizer: measured as it would teach
        own = Ct2FolderTeacher(d, beam=beam, nbest=1, batch_tokens=batch_tokens,
                               max_len=max_len, threads=spec.inter,
                               compute_type=spec.compute_type, spm=spec.spm,
                               target_spm=spec.target_spm, source_prefix=spec.source_prefix,
                               source_suffix=spec.source_suffix,
                               target_prefix=spec.target_prefix, intra_threads=threads,
                               no_repeat_ngram=spec.no_repeat_ngram)
        return Loaded(lambda lines: [h[0][0] for h in own.hypotheses(lines, "bench")],
                      own.decoder.translator.compute_type, None, size, size)

    def shape(self, spec):
        """From the export's card; a card's ``source_checkpoint`` is never loaded, since a
        card is not something the user vouched for."""
        from seqkd.ct2_folder import export_model_dir
        from seqkd.model_cost import ModelShape

        card_path = export_model_dir(spec.path) / "card.json"
        try:
            card = json.loads(card_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # none (a CTranslate2 teacher's folder), or unreadable
            card = {}
        shape = card.get("shape") if isinstance(card, dict) else None
        if isinstance(shape, dict):
            try:
                return ModelShape(**shape)
            except TypeError:
                pass
        logger.info("%s: its card records no model shape; the row has no MACs per token",
                    spec.name)
        return None

    def library(self, versions: Dict[str, str]) -> str:
        return f"ctranslate2{versions.get('ctranslate2')}"


def _is_export(d: Path) -> bool:
    """An `seqkd export` model folder: its SentencePiece model and card beside model.bin."""
    return (d / "spm.model").is_file() and (d / "card.json").is_file()


#: every kind a --system may name
KINDS: Dict[str, SystemKind] = {"fairseq": FairseqKind(), "ct2": Ct2Kind()}
