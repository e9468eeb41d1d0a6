"""The fairseq side of `seqkd topk-cache`: run the teacher(s) forced on every target
sentence of a binarized corpus and store the top-k of their (mean, tempered) distribution.

Started by the topk_cache stage as ``python -m seqkd.fairseq_entry topk --trust CKPT ...
-- ARGS``, so checkpoints are unpickled only under the trust the user gave, in a child
process. Batches are taken in fairseq's own order; each finished batch is flushed and
marked, so a killed run resumes where it stopped (seqkd.topk_store).
"""

from __future__ import annotations

import argparse
import logging
import sys

import numpy as np

from seqkd.kd_loss import teacher_probs, topk_of
from seqkd.textio import progress
from seqkd.topk_store import TopkWriter

logger = logging.getLogger("seqkd.topk_worker")


def parse(argv):
    p = argparse.ArgumentParser(prog="seqkd topk worker")
    p.add_argument("data")
    p.add_argument("--out", required=True)
    p.add_argument("--teachers", nargs="+", required=True)
    p.add_argument("--source-lang", required=True)
    p.add_argument("--target-lang", required=True)
    p.add_argument("--subsets", nargs="+", required=True)
    p.add_argument("--k", type=int, required=True)
    p.add_argument("--temperature", type=float, required=True)
    p.add_argument("--max-tokens", type=int, required=True)
    p.add_argument("--user-dir", required=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def cli_main() -> None:
    args = parse(sys.argv[1:])
    import torch
    from fairseq import checkpoint_utils, utils

    torch.set_num_threads(args.threads)
    utils.import_user_module(argparse.Namespace(user_dir=args.user_dir))
    models, _, task = checkpoint_utils.load_model_ensemble_and_task(
        args.teachers, arg_overrides={"data": args.data, "source_lang": args.source_lang,
                                      "target_lang": args.target_lang})
    for m in models:
        m.eval()
        m.to(args.device)
    pad = task.target_dictionary.pad()
    vocab = len(task.target_dictionary)
    max_positions = utils.resolve_max_positions(task.max_positions(),
                                                *[m.max_positions() for m in models])
    for subset in args.subsets:
        task.load_dataset(subset)
        dataset = task.dataset(subset)
        writer = TopkWriter(args.out, subset, dataset.tgt_sizes, args.k, vocab)
        if not writer.missing():
            logger.info("%s: already computed", subset)
            writer.close()
            continue
        # a pair longer than the batch budget is a batch of its own (fairseq's batching
        # stops with an assertion on it)
        longest = int(max(dataset.src_sizes.max(initial=0), dataset.tgt_sizes.max(initial=0)))
        batches = task.get_batch_iterator(
            dataset=dataset, max_tokens=max(args.max_tokens, longest),
            max_positions=max_positions,
            ignore_invalid_inputs=False, seed=1, num_workers=0).next_epoch_itr(shuffle=False)
        logger.info("%s: %d of %d sentences to compute", subset, writer.missing(),
                    len(dataset))
        for sample in progress(batches, desc=f"top-{args.k} {subset}", unit="batch"):
            sids = sample["id"].tolist()
            if not writer.todo(sids):
                continue
            sample = utils.move_to_cuda(sample) if args.device == "cuda" else sample
            with torch.no_grad():
                logits = [m(**sample["net_input"])[0] for m in models]
                ids, probs = topk_of(teacher_probs(logits, args.temperature), args.k)
            ids = ids.cpu().numpy()
            probs = probs.cpu().numpy().astype(np.float16)
            lengths = sample["target"].ne(pad).sum(dim=1).tolist()
            for b, sid in enumerate(sids):
                writer.put(sid, ids[b, :lengths[b]], probs[b, :lengths[b]])
            writer.mark(sids)
        writer.close()
        logger.info("%s: %d sentences written", subset, len(dataset))


if __name__ == "__main__":
    cli_main()
