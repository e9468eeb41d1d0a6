"""The stages, a room each: a room holds its settings, its runner and ``kind.py`` (how a
config's sections become its steps, and its sub-commands); :mod:`seqkd.stages.registry` lists
the kinds. Rooms share the common layer below them (``seqkd/*.py``) and
:mod:`seqkd.stages.base`, never each other.

    prepare/      data: fetch, clean, SentencePiece, binarize; monolingual source text
    train/        a teacher trained here and the students (fairseq), word-level KD
    distill/      the teacher's translations of every source (seq-KD, seq-inter, MBR)
    topk_cache/   the teacher's top-k token distributions for word-level KD
    export/       CTranslate2 export with its SentencePiece model and card
    bench/        speed, latency, memory, size and quality side by side
"""
