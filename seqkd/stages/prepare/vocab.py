"""prepare's vocabulary: a joint SentencePiece model trained from the cleaned training text,
and the fairseq dictionary made from its pieces."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from seqkd.errors import SeqkdError
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
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=sentences(), model_writer=buffer,
            vocab_size=vocab_size, model_type=model_type,
            character_coverage=character_coverage, bos_id=-1, eos_id=-1, pad_id=-1, unk_id=0,
            hard_vocab_limit=False, num_threads=threads, input_sentence_size=sample,
            shuffle_input_sentence=True, minloglevel=2)
    except RuntimeError as e:  # SentencePiece's own check, as one line of what to change
        raise SeqkdError(_spm_failure(str(e), vocab_size, character_coverage)) from None
    model = out_prefix.with_suffix(".model")
    with atomic_path(model) as tmp:
        tmp.write_bytes(buffer.getvalue())
    sp = spm.SentencePieceProcessor(model_proto=buffer.getvalue())
    write_lines(out_prefix.with_suffix(".vocab"),
                (f"{sp.id_to_piece(i)}\t{sp.get_score(i):g}" for i in range(sp.get_piece_size())))
    return model


def _spm_failure(message: str, vocab_size: int, character_coverage: float) -> str:
    chars = re.search(r"smaller than required_chars\. \d+ vs (\d+)", message)
    if chars:  # a script of thousands of characters (Chinese, Japanese) and a small vocabulary
        need = int(chars.group(1))
        return (f"the training text has {need:,} characters that SentencePiece keeps each as "
                f"a piece of its own at character coverage {character_coverage:g}, more than "
                f"the vocabulary size {vocab_size:,}: raise --vocab-size well above {need:,} "
                "(in a config, data.vocab_size), or lower --character-coverage (e.g. to "
                "0.9995, for scripts with thousands of characters; data.character_coverage) "
                "so that the rarest characters become <unk>")
    return f"SentencePiece could not train the vocabulary: {message.strip().splitlines()[-1]}"


def dictionary_from_spm(sp, path: Path) -> None:
    """A fairseq dictionary with every piece but <unk> (fairseq adds its own specials)."""
    specials = {sp.id_to_piece(sp.unk_id())}
    write_lines(path, (f"{sp.id_to_piece(i)} 1" for i in range(sp.get_piece_size())
                       if sp.id_to_piece(i) not in specials and not sp.is_control(i)))
