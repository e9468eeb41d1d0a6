"""sacrebleu's BLEU and chrF as seqkd scores translations into a target language: BLEU
tokenized for that language as sacrebleu's own command line tokenizes it (``-l SRC-TGT``):
Chinese with its ``zh`` tokenizer, Japanese and Korean with MeCab (``ja-mecab``,
``ko-mecab``), every other language with ``13a``. Without it, a Chinese sentence is one or
two 13a tokens and its BLEU means nothing. The tokenizer is in each score's signature.

The bench, the paired bootstrap, ``seqkd compare``, export's fidelity check and distill's
selection (seq-inter, MBR) take their scorers from here."""

from __future__ import annotations

from typing import List

from seqkd.errors import SeqkdError


#: three-letter codes (ISO 639-3, as NLLB's ``zho_Hans``) of the languages sacrebleu
#: tokenizes its own way, by its two-letter ones
_THREE_LETTER = {"zho": "zh", "cmn": "zh", "yue": "zh", "wuu": "zh", "jpn": "ja", "kor": "ko"}


def base_language(code: str) -> str:
    """The language of a code, without its script or region (``zh-Hant`` -> ``zh``,
    ``pt_BR`` -> ``pt``, ``zho_Hans`` -> ``zh``), lower case: what sacrebleu chooses a
    tokenizer by."""
    lang = code.replace("_", "-").split("-")[0].lower()
    return _THREE_LETTER.get(lang, lang)


def scorer(metric: str, tgt_lang: str = "", sentence: bool = False):
    """A sacrebleu metric for text in ``tgt_lang`` (BLEU with effective order when it scores
    single ``sentence``s)."""
    from sacrebleu.metrics import BLEU, CHRF

    if metric == "chrf":
        return CHRF()
    if metric != "bleu":
        raise SeqkdError(f"the metric must be bleu or chrf, got {metric!r}")
    lang = base_language(tgt_lang)
    try:
        return BLEU(trg_lang=lang, effective_order=sentence)
    except RuntimeError:  # its tokenizer's package is missing (sacrebleu says so at length)
        raise SeqkdError(
            f"BLEU of {tgt_lang!r} text is tokenized by MeCab, as sacrebleu does for it, and "
            f"MeCab is not installed: install it into seqkd's environment (.venv/bin/pip "
            f"install 'sacrebleu[{lang}]')") from None


def scorer_problems(metric: str, tgt_lang: str, where: str, otherwise: str = "") -> List[str]:
    """What keeps ``metric`` from scoring ``tgt_lang`` text here (a tokenizer not installed),
    said before anything runs, with ``otherwise``, what else the user may do."""
    try:
        scorer(metric, tgt_lang)
    except SeqkdError as e:
        return [f"{where}: {e}" + (f", or {otherwise}" if otherwise else "")]
    return []


def require_scorer(metric: str, tgt_lang: str, where: str, otherwise: str = "") -> None:
    """:func:`scorer_problems` as an error, for a stage run on its own."""
    for problem in scorer_problems(metric, tgt_lang, where, otherwise):
        raise SeqkdError(problem)
