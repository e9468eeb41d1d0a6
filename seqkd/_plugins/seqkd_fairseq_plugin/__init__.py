"""seqkd's fairseq plugin: the word-level KD criterion and the student/teacher presets.

Load it only through fairseq's ``--user-dir`` (and CTranslate2's ``user_dir``):
fairseq refuses to register the same criterion or architecture twice, so this
folder must never also be imported as part of the ``seqkd`` package.
"""

from . import architectures, criterion  # noqa: F401
