"""Beam-search decoders over SentencePiece pieces: fairseq generation and CTranslate2.

Both take a list of piece sequences and return, for each input in input
order, its n-best list as ``(pieces, score)`` pairs, best first. The score is
the hypothesis log-probability divided by its length (both libraries' default
with length penalty 1). An empty input gets ``[([], 0.0)]`` without reaching the
model, and an empty batch gives ``[]``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Iterator, List, Optional, Sequence, Tuple

from seqkd.corpus import bin_languages
from seqkd.errors import SeqkdError
from seqkd.fairseq_tools import plugin_dir
from seqkd.machine import default_threads, resolve_device, warn_oversubscribed

logger = logging.getLogger(__name__)

Hypotheses = List[Tuple[List[str], float]]


def _import_plugin() -> None:
    from fairseq.utils import import_user_module

    import_user_module(argparse.Namespace(user_dir=str(plugin_dir())))


class FairseqDecoder:
    """fairseq's SequenceGenerator over one checkpoint or an ensemble of them."""

    name = "fairseq"

    def __init__(self, checkpoints: Sequence[str | os.PathLike], data_bin: str | os.PathLike,
                 beam: int = 5, nbest: int = 1, batch_tokens: int = 1024, max_len: int = 200,
                 threads: int = 0, device: str = "cpu", sample: int = 0, seed: int = 1,
                 no_repeat_ngram: int = 0):
        import torch
        from fairseq import checkpoint_utils, search
        from fairseq.sequence_generator import SequenceGenerator

        from seqkd.trust import trusted_checkpoints

        if sample:  # ``sample`` draws from the full distribution instead of a beam
            beam = nbest = sample
            torch.manual_seed(seed)
        check_search(beam, nbest)
        # 0: this process's share of the physical cores, as CTranslate2's decoder below
        # (torch's own default is every core, whatever share --jobs or a lane gave it)
        threads = threads or default_threads()
        self.device = resolve_device(device, torch.cuda.is_available())
        if self.device == "cpu":
            warn_oversubscribed(threads)
        torch.set_num_threads(threads)
        _import_plugin()
        paths = [os.fspath(c) for c in checkpoints]
        # the data's languages, not the ones the checkpoints were trained with (a teacher
        # from elsewhere may name them otherwise; the dictionaries are the data's)
        src, tgt = bin_languages(data_bin)
        with trusted_checkpoints(paths):
            self.models, _, self.task = checkpoint_utils.load_model_ensemble_and_task(
                paths, arg_overrides={"data": os.fspath(data_bin), "source_lang": src,
                                      "target_lang": tgt})
        for m in self.models:
            m.eval()
            if self.device == "cuda":
                m.cuda()
        self.src_dict = self.task.source_dictionary
        self.tgt_dict = self.task.target_dictionary
        self.generator = SequenceGenerator(
            self.models, self.tgt_dict, beam_size=beam, max_len_a=0, max_len_b=max_len,
            no_repeat_ngram_size=no_repeat_ngram,
            search_strategy=search.Sampling(self.tgt_dict) if sample else None)
        if no_repeat_ngram:
            self.generator.repeat_ngram_blocker = _seen_tokens_only(
                self.generator.repeat_ngram_blocker)
        self.nbest = nbest
        self.batch_tokens = batch_tokens
        self.max_positions = min(m.max_positions()[0] for m in self.models)

    def translate(self, batch: Sequence[Sequence[str]]) -> List[Hypotheses]:
        import torch

        out: List[Hypotheses] = [[([], 0.0)] for _ in batch]
        todo = [i for i, pieces in enumerate(batch) if pieces]
        if not todo:
            return out
        tokens = []
        for pieces in (batch[i] for i in todo):
            ids = [self.src_dict.index(p) for p in pieces][: self.max_positions - 1]
            tokens.append(torch.LongTensor(ids + [self.src_dict.eos()]))
        dataset = self.task.build_dataset_for_inference(tokens, [t.numel() for t in tokens])
        # a sentence longer than the batch budget is a batch of its own, as in CTranslate2
        # (fairseq's batching stops with an assertion on it)
        budget = max(self.batch_tokens, max(t.numel() for t in tokens))
        itr = self.task.get_batch_iterator(
            dataset=dataset, max_tokens=budget, max_positions=self.max_positions,
            ignore_invalid_inputs=False).next_epoch_itr(shuffle=False)
        with torch.no_grad():
            for sample in itr:
                if self.device == "cuda":
                    from fairseq.utils import move_to_cuda

                    sample = move_to_cuda(sample)
                hypos = self.task.inference_step(self.generator, self.models, sample)
                for i, sid in enumerate(sample["id"].tolist()):
                    out[todo[sid]] = [
                        (self.tgt_dict.string(h["tokens"]).split(), float(h["score"]))
                        for h in hypos[i][: self.nbest]
                    ]
        return out


def _seen_tokens_only(blocker):
    """fairseq 0.12's n-gram blocker on the CPU compares against the end of the whole
    token buffer, which is padding, so it blocks nothing (facebookresearch/fairseq#4709,
    #5206): this one hands it the tokens generated so far only."""
    import torch

    class SeenTokensOnly(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = blocker

        def forward(self, tokens, lprobs, bsz: int, beam_size: int, step: int):
            return self.inner(tokens[:, : step + 1], lprobs, bsz, beam_size, step)

    return SeenTokensOnly()


def convert_to_ct2(checkpoint: str | os.PathLike, data_bin: str | os.PathLike,
                   out_dir: str | os.PathLike, quantization: str = "int8",
                   vmap: Optional[str | os.PathLike] = None) -> Path:
    """Convert a (trusted) fairseq checkpoint with CTranslate2's own converter.

    The checkpoint is one the pipeline wrote or the user named, so the
    converter's unsafe deserialization (full unpickling) is switched on for it.
    """
    from ctranslate2.converters import FairseqConverter

    from seqkd.textio import atomic_path

    out = Path(out_dir)
    with _with_args_entry(Path(checkpoint), out) as readable, atomic_path(out) as tmp:
        src, tgt = bin_languages(data_bin)
        converter = FairseqConverter(os.fspath(readable), os.fspath(data_bin),
                                     source_lang=src, target_lang=tgt,
                                     user_dir=str(plugin_dir()), unsafe_deserialization=True)
        converter.convert(os.fspath(tmp), quantization=None if quantization == "float32"
                          else quantization, force=True,
                          vmap=os.fspath(vmap) if vmap else None)
    return out


@contextlib.contextmanager
def _with_args_entry(checkpoint: Path, out: Path) -> Iterator[Path]:
    """The checkpoint as CTranslate2's converter reads it: the converter looks up the
    ``args`` entry, which fairseq always writes (None when ``cfg`` holds the settings) and
    which fairseq itself reads when present only; a checkpoint without it (written by another
    tool) is converted from a copy with ``args: None``, beside ``out`` and removed after."""
    from seqkd.checkpoints import load_mapped

    state = load_mapped(checkpoint)
    if "args" in state:
        del state  # not held while converting (an old-format file is read whole)
        yield checkpoint
        return
    import torch

    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.", suffix=".ckpt",
                                     dir=out.parent) as folder:
        copy = Path(folder) / checkpoint.name
        torch.save({**state, "args": None}, copy)
        del state
        yield copy


def token_slices(lengths: Sequence[int], budget: int) -> List[List[int]]:
    """Consecutive index slices of ``lengths`` holding about ``budget`` tokens each (at least
    one item per slice)."""
    out: List[List[int]] = []
    current: List[int] = []
    tokens = 0
    for i, n in enumerate(lengths):
        if current and tokens + n > budget:
            out.append(current)
            current, tokens = [], 0
        current.append(i)
        tokens += n
    if current:
        out.append(current)
    return out


def check_search(beam: int, nbest: int) -> None:
    """A beam of at least 1 and an n-best of 1 to the beam, or one error that says which."""
    for name, value in (("beam", beam), ("n-best", nbest)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise SeqkdError(f"the {name} must be a whole number of at least 1, got {value!r}")
    if nbest > beam:
        raise SeqkdError(f"n-best ({nbest}) cannot exceed the beam size ({beam})")


class CT2Decoder:
    """A CTranslate2 translator (on the CPU unless ``device`` says otherwise).

    ``threads`` are intra-op threads (one batch at a time: lowest latency);
    ``parallel_batches`` runs that many batches at once, each on its own threads
    (highest throughput for bulk work such as distillation).
    """

    name = "ctranslate2"
    #: 1: the beam's best (no sampling); 0: sampling from the whole distribution
    sampling_topk = 1

    def __init__(self, model_dir: str | os.PathLike, beam: int = 5, nbest: int = 1,
                 batch_tokens: int = 1024, max_len: int = 200, threads: int = 0,
                 compute_type: str = "default", use_vmap: bool = False,
                 parallel_batches: int = 1, device: str = "cpu", max_input_len: int = 1024,
                 target_prefix: Optional[List[str]] = None, sample: int = 0, seed: int = 1,
                 no_repeat_ngram: int = 0):
        import ctranslate2

        if sample:  # ``sample`` candidates drawn from the full distribution, no beam
            beam, nbest = 1, sample
            ctranslate2.set_random_seed(seed)
        if not sample:
            check_search(beam, nbest)
        if not (Path(model_dir) / "model.bin").is_file():
            raise SeqkdError(f"{model_dir} is not a CTranslate2 model folder (no model.bin)")
        self.device = resolve_device(device, ctranslate2.get_cuda_device_count() > 0)
        if self.device == "cuda":
            parallel_batches = 1  # one model on the GPU; CPU threads only feed it
        if self.device == "cpu":
            warn_oversubscribed(threads or default_threads(), parallel_batches)
        try:
            self.translator = ctranslate2.Translator(
                os.fspath(model_dir), device=self.device, compute_type=compute_type,
                # 0: the physical cores (CTranslate2's own 0 means 4 threads, however many
                # cores there are)
                intra_threads=threads or default_threads(), inter_threads=parallel_batches)
        except (ValueError, RuntimeError) as e:
            supported = sorted(ctranslate2.get_supported_compute_types(self.device))
            raise SeqkdError(f"CTranslate2 cannot load {model_dir} with compute type "
                             f"{compute_type} on {self.device}: {e} (this machine supports: "
                             f"{', '.join(supported)})") from None
        self.beam, self.nbest, self.sampling_topk = beam, nbest, 0 if sample else 1
        self.batch_tokens, self.max_len = batch_tokens, max_len
        self.use_vmap = use_vmap
        #: no output repeats an n-gram of this many pieces (0: off); a guard against a small
        #: student's loops (the same few pieces over and over to --max-len)
        self.no_repeat_ngram = no_repeat_ngram
        #: batches handed to CTranslate2 in one call (enough to keep every parallel batch busy)
        self.batches_per_call = 4 * max(1, parallel_batches)
        #: inputs longer than this many pieces are cut to it (CTranslate2's max_input_length)
        self.max_input_len = max_input_len
        #: tokens every output is forced to start with (a language code); they stay in the
        #: hypotheses, the caller removes them
        self.target_prefix = list(target_prefix or [])

    def translate(self, batch: Sequence[Sequence[str]], beam: Optional[int] = None,
                  nbest: Optional[int] = None) -> List[Hypotheses]:
        """The n-best lists of ``batch``; ``beam`` and ``nbest`` override the decoder's own
        for this call (a server's request)."""
        out: List[Hypotheses] = [[([], 0.0)] for _ in batch]
        todo = [i for i, pieces in enumerate(batch) if pieces]
        if not todo:
            return out
        beam = self.beam if beam is None else beam
        nbest = self.nbest if nbest is None else nbest
        if self.sampling_topk:  # sampling draws its candidates without a beam
            check_search(beam, nbest)
        # one CTranslate2 call holds the interpreter until it returns, so Ctrl-C would wait
        # for all of it: slices of a few batches each keep an interrupt within seconds
        for part in token_slices([len(batch[i]) for i in todo],
                                 self.batch_tokens * self.batches_per_call):
            ids = [todo[k] for k in part]
            results = self.translator.translate_batch(
                [list(batch[i]) for i in ids], beam_size=beam, num_hypotheses=nbest,
                return_scores=True, max_batch_size=self.batch_tokens, batch_type="tokens",
                sampling_topk=self.sampling_topk,
                max_decoding_length=self.max_len, use_vmap=self.use_vmap,
                no_repeat_ngram_size=self.no_repeat_ngram, max_input_length=self.max_input_len,
                target_prefix=[self.target_prefix] * len(ids) if self.target_prefix else None)
            for i, r in zip(ids, results):
                out[i] = [(list(h), float(s)) for h, s in zip(r.hypotheses, r.scores)]
        return out
