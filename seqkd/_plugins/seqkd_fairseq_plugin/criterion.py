"""``seqkd_word_kd``: label-smoothed cross-entropy interpolated with word-level KD.

With ``--kd-teachers`` the teacher(s) are run forced on the same target the
student sees, in the same batch, in eval mode and without gradients. Their
weights are not part of the criterion's state, so student checkpoints do not
carry them. With ``--kd-cache`` no teacher is run: the teacher's top-k
distribution at each target position is read from a cache made once by
``seqkd topk-cache`` (rows found by fairseq's sample ids; the training subset
while the criterion trains, the validation subset while it validates).
"""

import logging
import math
import os
from dataclasses import dataclass, field

import torch
from fairseq import checkpoint_utils, metrics
from fairseq.criterions import register_criterion
from fairseq.criterions.label_smoothed_cross_entropy import (
    LabelSmoothedCrossEntropyCriterion, LabelSmoothedCrossEntropyCriterionConfig)

from seqkd.errors import SeqkdError
from seqkd.dictionaries import check_checkpoint_dictionary
from seqkd.kd_loss import word_kd_loss
from seqkd.topk_store import check_cache_for
from seqkd.trust import trusted_checkpoints

logger = logging.getLogger(__name__)


@dataclass
class WordKDConfig(LabelSmoothedCrossEntropyCriterionConfig):
    kd_teachers: str = field(default="", metadata={
        "help": "teacher checkpoint(s), separated by ':'; several form an ensemble"})
    kd_alpha: float = field(default=0.5, metadata={
        "help": "weight of the KD term: (1-alpha)*LS-NLL + alpha*T^2*KL"})
    kd_temperature: float = field(default=1.0, metadata={"help": "softmax temperature T"})
    kd_cache: str = field(default="", metadata={
        "help": "a top-k cache folder (seqkd topk-cache) read instead of running teachers"})


@register_criterion("seqkd_word_kd", dataclass=WordKDConfig)
class WordKDCriterion(LabelSmoothedCrossEntropyCriterion):
    def __init__(self, task, sentence_avg, label_smoothing, ignore_prefix_size=0,
                 report_accuracy=False, kd_teachers="", kd_alpha=0.5, kd_temperature=1.0,
                 kd_cache=""):
        super().__init__(task, sentence_avg, label_smoothing, ignore_prefix_size,
                         report_accuracy)
        if not 0.0 <= kd_alpha <= 1.0:
            raise SeqkdError(f"--kd-alpha must be in [0, 1], got {kd_alpha}")
        if kd_temperature <= 0:
            raise SeqkdError(f"--kd-temperature must be positive, got {kd_temperature}")
        self.alpha = kd_alpha
        self.temperature = kd_temperature
        paths = [p for p in kd_teachers.split(":") if p]
        if paths and kd_cache:
            raise SeqkdError("word-level KD takes --kd-teachers or --kd-cache, not both")
        if kd_alpha > 0 and not (paths or kd_cache):
            raise SeqkdError("word-level KD with alpha > 0 needs --kd-teachers or --kd-cache")
        self._cache = None
        if kd_cache and kd_alpha > 0:
            self._cache = check_cache_for(kd_cache, os.path.dirname(task.cfg.data.rstrip("/")),
                                          kd_temperature)
            logger.info("word-level KD from the top-%d cache %s (no teacher is run)",
                        self._cache.k, kd_cache)
        # a plain list: the teachers are not sub-modules (not saved, not optimised)
        self._teachers = self._load_teachers(task, paths) if kd_alpha > 0 and paths else []

    @staticmethod
    def _load_teachers(task, paths):
        data_dict = os.path.join(task.cfg.data, f"dict.{task.cfg.target_lang}.txt")
        for p in paths:
            if not os.path.isfile(p):
                raise SeqkdError(f"teacher checkpoint not found: {p}")
            check_checkpoint_dictionary(p, data_dict, "word-level KD teacher")
        with trusted_checkpoints(paths):
            models, _ = checkpoint_utils.load_model_ensemble(
                paths, arg_overrides={"data": task.cfg.data}, task=task)
        for m in models:
            m.eval()
            for prm in m.parameters():
                prm.requires_grad_(False)
        logger.info("word-level KD: %d teacher(s) loaded: %s", len(models), ", ".join(paths))
        return models

    def forward(self, model, sample, reduce=True):
        net_output = model(**sample["net_input"])
        target = model.get_targets(sample, net_output)
        teacher_logits, topk = [], None
        if self._cache is not None:
            topk = self._cached_topk(sample, target)
        elif self._teachers:
            with torch.no_grad():
                for t in self._teachers:
                    dev = sample["target"].device
                    if next(t.parameters()).device != dev:
                        t.to(dev)
                    t.eval()
                    teacher_logits.append(t(**sample["net_input"])[0])
        res = word_kd_loss(net_output[0], teacher_logits, target, self.padding_idx,
                           self.alpha, self.temperature, self.eps, teacher_topk=topk)
        sample_size = sample["target"].size(0) if self.sentence_avg else sample["ntokens"]
        logging_output = {
            "loss": res.loss.data,
            "nll_loss": res.nll_loss.data,
            "ls_loss": res.ls_loss.data,
            "kd_loss": res.kd_loss.data,
            "ntokens": sample["ntokens"],
            "nsentences": sample["target"].size(0),
            "sample_size": sample_size,
        }
        return res.loss, sample_size, logging_output

    def _cached_topk(self, sample, target):
        """The batch's (ids, probs) from the cache, shaped like ``target`` plus k."""
        lengths = target.ne(self.padding_idx).sum(dim=1).tolist()
        subset = "train" if self.training else "valid"
        ids, probs = self._cache.batch(subset, sample["id"].tolist(), lengths, target.size(1),
                                       self.padding_idx)
        return (torch.from_numpy(ids).to(target.device),
                torch.from_numpy(probs).to(target.device))

    @classmethod
    def reduce_metrics(cls, logging_outputs) -> None:
        super().reduce_metrics(logging_outputs)
        sample_size = sum(log.get("sample_size", 0) for log in logging_outputs)
        for key in ("ls_loss", "kd_loss"):
            total = sum(log.get(key, 0) for log in logging_outputs)
            metrics.log_scalar(key, total / sample_size / math.log(2), sample_size, round=3)
