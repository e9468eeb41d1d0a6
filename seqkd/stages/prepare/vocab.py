"""prepare's vocabulary: a joint SentencePiece model trained from the cleaned training text,
and the fairseq dictionary made from its pieces."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from seqkd.textio import atomic_path, iter_lines, write_lines


def train_spm(inputs: Sequence[Path], out_prefix: Path, vocab_size: int, model_type: str,
              threads: int, character_coverage: float = 1.0,
              sample: int = 1_000_000) -> Path:
    """Train a joint SentencePiece model (no bos/eos/pad; unk is id 0).

    The sentences are streamed in and the model is written from memory with a fixed random
    seed, so the same text gives the same spm.model byte for byte, wherever it is trained
    (a model trained from files records their paths in it)."""
    import io

    import sentencepiece as spm

    def sentences():
        for path in inputs:
            yield from iter_lines(path)

    buffer = io.BytesIO()
    spm.set_random_generator_seed(1)
    spm.SentencePieceTrainer.train(
        sentence_iterator=sentences(), model_writer=buffer,
        vocab_size=vocab_size, model_type=model_type, character_coverage=character_coverage,
        bos_id=-1, eos_id=-1, pad_id=-1, unk_id=0, hard_vocab_limit=False,
        num_threads=threads, input_sentence_size=sample, shuffle_input_sentence=True,
        minloglevel=2)
    model = out_prefix.with_suffix(".model")
    with atomic_path(model) as tmp:
        tmp.write_bytes(buffer.getvalue())
    sp = spm.SentencePieceProcessor(model_proto=buffer.getvalue())
    write_lines(out_prefix.with_suffix(".vocab"),
                (f"{sp.id_to_piece(i)}\t{sp.get_score(i):g}" for i in range(sp.get_piece_size())))
    return model


def dictionary_from_spm(sp, path: Path) -> None:
    """A fairseq dictionary with every piece but <unk> (fairseq adds its own specials)."""
    specials = {sp.id_to_piece(sp.unk_id())}
    write_lines(path, (f"{sp.id_to_piece(i)} 1" for i in range(sp.get_piece_size())
                       if sp.id_to_piece(i) not in specials and not sp.is_control(i)))
