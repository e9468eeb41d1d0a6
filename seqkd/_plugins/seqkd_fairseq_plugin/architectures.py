"""Model presets, registered as architectures of fairseq's ``transformer`` model.

Being plain ``transformer`` variants, they convert with CTranslate2's fairseq
converter unchanged.
"""

from fairseq.models import register_model_architecture
from fairseq.models.transformer import base_architecture

from seqkd.model_cost import ARCH_SHAPES as SHAPES  # noqa: E402 (one table for both)


def _register(name, enc_layers, dec_layers, dim, ffn, heads):
    def arch(args):
        args.encoder_layers = getattr(args, "encoder_layers", enc_layers)
        args.decoder_layers = getattr(args, "decoder_layers", dec_layers)
        args.encoder_embed_dim = getattr(args, "encoder_embed_dim", dim)
        args.decoder_embed_dim = getattr(args, "decoder_embed_dim", dim)
        args.encoder_ffn_embed_dim = getattr(args, "encoder_ffn_embed_dim", ffn)
        args.decoder_ffn_embed_dim = getattr(args, "decoder_ffn_embed_dim", ffn)
        args.encoder_attention_heads = getattr(args, "encoder_attention_heads", heads)
        args.decoder_attention_heads = getattr(args, "decoder_attention_heads", heads)
        base_architecture(args)

    arch.__name__ = name
    register_model_architecture("transformer", name)(arch)


for _name, _dims in SHAPES.items():
    _register(_name, *_dims)
