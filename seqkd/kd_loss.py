"""Word-level knowledge distillation loss (Hinton et al. 2015; Kim & Rush 2016), as plain tensors.

    loss = (1 - alpha) * LS-NLL(student, target) + alpha * T^2 * KL(p_teacher^T || p_student^T)

summed over the non-padding target positions. ``p^T`` is the softmax at
temperature ``T``; an ensemble of teachers contributes the mean of their
tempered distributions. From a top-k cache, ``p^T`` is the teacher's
distribution restricted to its ``k`` most probable tokens and renormalized over
them (:func:`topk_of`), and the KL term is summed over those tokens only. The fairseq criterion in the plugin calls these
functions; they import nothing from fairseq so they can be tested on
hand-made tensors.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F


class KDLoss(NamedTuple):
    loss: torch.Tensor      # what is minimised
    ls_loss: torch.Tensor   # label-smoothed NLL on the target (fairseq's definition)
    nll_loss: torch.Tensor  # plain NLL on the target
    kd_loss: torch.Tensor   # T^2 * KL(teacher || student), summed over tokens


def label_smoothed_nll(lprobs: torch.Tensor, target: torch.Tensor, epsilon: float,
                       pad_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Label-smoothed NLL summed over non-pad tokens, as fairseq defines it.

    ``lprobs``: (N, V) log-probabilities; ``target``: (N,). Returns (loss, nll).
    """
    target = target.unsqueeze(-1)
    nll = -lprobs.gather(dim=-1, index=target)
    smooth = -lprobs.sum(dim=-1, keepdim=True)
    pad = target.eq(pad_idx)
    nll = nll.masked_fill(pad, 0.0).sum()
    smooth = smooth.masked_fill(pad, 0.0).sum()
    eps_i = epsilon / (lprobs.size(-1) - 1)
    return (1.0 - epsilon - eps_i) * nll + eps_i * smooth, nll


def teacher_probs(teacher_logits: Sequence[torch.Tensor], temperature: float) -> torch.Tensor:
    """Mean of the teachers' softmax(logits / T): the ensemble's tempered distribution."""
    if not teacher_logits:
        raise ValueError("teacher_probs needs at least one teacher's logits")
    probs = [F.softmax(t.float() / temperature, dim=-1) for t in teacher_logits]
    return torch.stack(probs).mean(dim=0)


def kd_kl(student_logits: torch.Tensor, teacher_p: torch.Tensor, target: torch.Tensor,
          temperature: float, pad_idx: int) -> torch.Tensor:
    """T^2 * KL(teacher_p || softmax(student/T)), summed over non-pad positions.

    ``student_logits``, ``teacher_p``: (N, V); ``target``: (N,).
    """
    log_q = F.log_softmax(student_logits.float() / temperature, dim=-1)
    log_p = torch.log(teacher_p.clamp_min(1e-30))
    kl = (teacher_p * (log_p - log_q)).sum(dim=-1)
    kl = kl.masked_fill(target.eq(pad_idx), 0.0)
    return (temperature ** 2) * kl.sum()


def topk_of(teacher_p: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` most probable tokens of each row of ``teacher_p`` (..., V) and their
    probabilities renormalized to sum to 1: (ids, probs), each (..., k), most probable first."""
    probs, ids = teacher_p.topk(min(k, teacher_p.size(-1)), dim=-1)
    return ids, probs / probs.sum(dim=-1, keepdim=True)


def kd_kl_topk(student_logits: torch.Tensor, ids: torch.Tensor, probs: torch.Tensor,
               target: torch.Tensor, temperature: float, pad_idx: int) -> torch.Tensor:
    """T^2 * KL(p || softmax(student/T)) for a teacher distribution ``p`` given sparsely:
    ``probs`` (N, k) on the tokens ``ids`` (N, k), zero elsewhere; summed over non-pad
    positions. Equals :func:`kd_kl` with the dense form of ``p``."""
    log_q = F.log_softmax(student_logits.float() / temperature, dim=-1).gather(-1, ids)
    p = probs.float()
    log_p = torch.log(p.clamp_min(1e-30))
    kl = (p * (log_p - log_q)).sum(dim=-1)
    kl = kl.masked_fill(target.eq(pad_idx), 0.0)
    return (temperature ** 2) * kl.sum()


def word_kd_loss(student_logits: torch.Tensor, teacher_logits: Sequence[torch.Tensor],
                 target: torch.Tensor, pad_idx: int, alpha: float, temperature: float,
                 label_smoothing: float,
                 teacher_topk: Optional[tuple[torch.Tensor, torch.Tensor]] = None) -> KDLoss:
    """The interpolated loss; with ``alpha == 0`` the teachers are not used at all.
    ``teacher_topk`` (ids, probs), each (..., k), replaces ``teacher_logits``: the
    teacher's top-k distribution read from a cache.

    Shapes: logits (..., V), target (...); they are flattened here.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    v = student_logits.size(-1)
    s = student_logits.reshape(-1, v)
    t = target.reshape(-1)
    lprobs = F.log_softmax(s.float(), dim=-1)
    ls, nll = label_smoothed_nll(lprobs, t, label_smoothing, pad_idx)
    if alpha == 0.0:
        kd = torch.zeros((), dtype=ls.dtype, device=ls.device)
    elif teacher_topk is not None:
        ids, probs = teacher_topk
        k = ids.size(-1)
        kd = kd_kl_topk(s, ids.reshape(-1, k), probs.reshape(-1, k), t, temperature, pad_idx)
    else:
        p = teacher_probs([x.reshape(-1, v) for x in teacher_logits], temperature)
        kd = kd_kl(s, p, t, temperature, pad_idx)
    loss = (1.0 - alpha) * ls + alpha * kd
    return KDLoss(loss, ls, nll, kd)
