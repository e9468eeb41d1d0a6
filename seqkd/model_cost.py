"""Arithmetic cost of a transformer translation model, from its weight shapes.

Counted: the multiply-accumulates (MACs) of the weight matrices a token passes through, one
token at a time, the way an inference engine computes them:

- per source token: each encoder layer's attention projections (4·d²) and feed-forward
  (2·d·f), plus each decoder layer's cross-attention keys and values (2·d²), which are
  computed once per source token;
- per target token and hypothesis: each decoder layer's self-attention (4·d²), the
  cross-attention query and output (2·d²) and the feed-forward (2·d·f), plus the output
  layer (d·V; with a vocabulary map, V is the number of pieces the map allows).

Not counted: attention scores and weighted sums (they grow with sentence length: 2·d per
attended position and layer), softmax, layer norms, embeddings. For the small models here
the counted part dominates at Multi30k's sentence lengths.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Dict, Mapping, Optional, Sequence


#: the presets' fairseq architectures (registered by the plugin): name -> (encoder layers, decoder layers, width, ffn width, heads)
ARCH_SHAPES = {
    "seqkd_teacher_tiny": (2, 2, 64, 128, 2),
    "seqkd_teacher_base": (6, 6, 256, 1024, 4),
    "seqkd_teacher_wmt_base": (6, 6, 512, 2048, 8),  # transformer-base, for WMT-size data
    "seqkd_student_tiny": (1, 1, 32, 64, 2),
    "seqkd_student_small": (3, 1, 256, 512, 4),
    "seqkd_student_deep_enc": (6, 2, 256, 1024, 4),
    "seqkd_student_enc6_dec1": (6, 1, 256, 1024, 4),
}


@dataclass(frozen=True)
class ModelShape:
    encoder_layers: int
    decoder_layers: int
    width: int
    encoder_ffn: int
    decoder_ffn: int
    output_vocab: int

    def macs_per_source_token(self) -> int:
        d = self.width
        return (self.encoder_layers * (4 * d * d + 2 * d * self.encoder_ffn)
                + self.decoder_layers * 2 * d * d)

    def macs_per_target_token(self, output_vocab: Optional[int] = None) -> int:
        d = self.width
        v = self.output_vocab if output_vocab is None else output_vocab
        return self.decoder_layers * (6 * d * d + 2 * d * self.decoder_ffn) + d * v

    def as_dict(self) -> Dict[str, int]:
        return asdict(self)


def shape_from_weights(shapes: Mapping[str, Sequence[int]]) -> ModelShape:
    """The shape of a fairseq transformer from its state dict's ``name -> tensor shape``."""
    def layers(side: str) -> int:
        found = {int(m.group(1)) for name in shapes
                 if (m := re.match(rf"{side}\.layers\.(\d+)\.", name))}
        return max(found) + 1 if found else 0

    def first(*names: str) -> Sequence[int]:
        for n in names:
            if n in shapes:
                return shapes[n]
        raise KeyError(f"none of {', '.join(names)} in the model's weights")

    width = first("encoder.embed_tokens.weight")[1]
    return ModelShape(
        encoder_layers=layers("encoder"), decoder_layers=layers("decoder"), width=int(width),
        encoder_ffn=int(first("encoder.layers.0.fc1.weight")[0]),
        decoder_ffn=int(first("decoder.layers.0.fc1.weight")[0]),
        output_vocab=int(first("decoder.output_projection.weight",
                               "decoder.embed_tokens.weight")[0]))

