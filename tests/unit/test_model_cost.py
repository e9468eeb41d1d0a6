"""Arithmetic cost from weight shapes, the Pareto front of the bench plot, and the shape
settings of `seqkd train`."""

import pytest

from seqkd.stages.bench.plot import pareto_front
from seqkd.stages.bench.report import cost_fields
from seqkd.errors import SeqkdError
from seqkd.model_cost import ModelShape, shape_from_weights
from seqkd.stages.train.config import TrainConfig, fairseq_train_args
from corpus import binarized


def _weights(enc, dec, d, f, vocab):
    w = {"encoder.embed_tokens.weight": (vocab, d), "decoder.embed_tokens.weight": (vocab, d),
         "decoder.output_projection.weight": (vocab, d)}
    for side, n in (("encoder", enc), ("decoder", dec)):
        for i in range(n):
            w[f"{side}.layers.{i}.fc1.weight"] = (f, d)
            w[f"{side}.layers.{i}.fc2.weight"] = (d, f)
            w[f"{side}.layers.{i}.self_attn.k_proj.weight"] = (d, d)
    return w


def test_shape_from_weights_reads_layers_widths_and_vocabulary():
    shape = shape_from_weights(_weights(12, 1, 256, 1024, 10000))
    assert shape == ModelShape(12, 1, 256, 1024, 1024, 10000)
    # without a separate output projection (tied), the decoder embedding gives the vocabulary
    w = _weights(3, 2, 384, 1536, 8000)
    del w["decoder.output_projection.weight"]
    assert shape_from_weights(w).output_vocab == 8000
    with pytest.raises(KeyError):
        shape_from_weights({"encoder.embed_tokens.weight": (10, 4)})


def test_macs_per_token_by_hand():
    # 6-1, d 256, ffn 1024, vocab 10,000
    s = ModelShape(6, 1, 256, 1024, 1024, 10000)
    d, f = 256, 1024
    assert s.macs_per_source_token() == 6 * (4 * d * d + 2 * d * f) + 2 * d * d
    assert s.macs_per_target_token() == 6 * d * d + 2 * d * f + d * 10000
    assert s.macs_per_target_token(output_vocab=500) == 6 * d * d + 2 * d * f + d * 500
    # a deeper encoder costs per source token, not per target token
    deep = ModelShape(12, 1, 256, 1024, 1024, 10000)
    assert deep.macs_per_target_token() == s.macs_per_target_token()
    assert deep.macs_per_source_token() > s.macs_per_source_token()


def test_cost_fields_rate():
    s = ModelShape(1, 1, 2, 4, 4, 10)
    ms, mt = s.macs_per_source_token(), s.macs_per_target_token()
    got = cost_fields(s, src_pieces=1000, tgt_pieces=500, beam=5, seconds=0.5)
    assert got["macs_per_src_token"] == ms and got["macs_per_tgt_token"] == mt
    assert got["gmacs_per_s"] == round((1000 * ms + 500 * 5 * mt) / 0.5 / 1e9, 2)
    assert cost_fields(None, 1, 1, 1, 1.0)["gmacs_per_s"] is None


def test_pareto_front():
    pts = [(100, 30.0), (1000, 29.0), (500, 28.0), (2000, 25.0), (1000, 29.0), (50, 30.0)]
    # (500, 28) is beaten by (1000, 29); (50, 30) by (100, 30); equal points both stay
    assert pareto_front(pts) == [3, 1, 4, 0]
    assert pareto_front([]) == []
    assert pareto_front([(1, 1)]) == [0]


def test_shape_settings_reach_fairseq_and_bad_heads_are_refused(tmp_path):
    cfg = TrainConfig(data="d", out_dir="o", preset="enc6-dec1", max_epoch=1,
                      encoder_layers=12, decoder_layers=2, embed_dim=384, ffn_dim=1536, heads=6)
    args = fairseq_train_args(cfg, binarized(tmp_path), tmp_path / "c")
    pairs = dict(zip(args, args[1:]))
    assert pairs["--arch"] == "seqkd_student_enc6_dec1"
    assert (pairs["--encoder-layers"], pairs["--decoder-layers"]) == ("12", "2")
    assert pairs["--encoder-embed-dim"] == pairs["--decoder-embed-dim"] == "384"
    assert pairs["--encoder-ffn-embed-dim"] == pairs["--decoder-ffn-embed-dim"] == "1536"
    assert pairs["--encoder-attention-heads"] == pairs["--decoder-attention-heads"] == "6"
    plain = fairseq_train_args(TrainConfig(data="d", out_dir="o", max_epoch=1), binarized(tmp_path),
                               tmp_path / "c")
    assert not any(a.startswith("--encoder-layers") for a in plain)
    with pytest.raises(SeqkdError, match="does not divide"):
        TrainConfig(data="d", out_dir="o", max_epoch=1, embed_dim=384, heads=5)
    # the preset's width counts when only the heads are given (enc6-dec1: 256)
    with pytest.raises(SeqkdError, match="heads 3 does not divide the width 256"):
        TrainConfig(data="d", out_dir="o", preset="enc6-dec1", max_epoch=1, heads=3)


def test_plot_labels_do_not_overlap_when_points_crowd(tmp_path):
    from seqkd.plotting import pyplot
    from seqkd.stages.bench.plot import _place_labels

    plt = pyplot(tmp_path)  # as the bench has it: matplotlib's caches out of $HOME

    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=120)
    # the headline run's crowded corner: long names a short distance apart on a log axis
    pts = [(5940, 29.70, "kd-wordkd-b1"), (8982, 29.70, "kd-wordkd-vmap-b1"),
           (8096, 29.32, "baseline-b1"), (10372, 29.18, "baseline-vmap-b1"),
           (9000, 29.69, "another-long-system-name")]
    ax.scatter([p[0] for p in pts], [p[1] for p in pts])
    ax.set_xscale("log")
    ax.set_xlim(300, 25000)
    ax.set_ylim(28.4, 30.7)
    fig.tight_layout()
    _place_labels(ax, pts)
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert sorted(t.get_text() for t in ax.texts) == sorted(p[2] for p in pts)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), (a, b)
    plt.close(fig)
