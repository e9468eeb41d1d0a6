"""The word-level KD loss on hand-made tensors."""

import pytest
import torch
import torch.nn.functional as F

from seqkd.kd_loss import (kd_kl, kd_kl_topk, label_smoothed_nll, teacher_probs, topk_of,
                          word_kd_loss)

PAD = 1


def batch(seed=0, b=3, t=5, v=11):
    g = torch.Generator().manual_seed(seed)
    student = torch.randn(b, t, v, generator=g)
    teacher = torch.randn(b, t, v, generator=g)
    target = torch.randint(4, v, (b, t), generator=g)
    target[0, 3:] = PAD
    target[2, 4:] = PAD
    return student, teacher, target


def test_alpha_zero_equals_fairseq_label_smoothed_cross_entropy():
    from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss

    student, teacher, target = batch()
    res = word_kd_loss(student, [teacher], target, PAD, alpha=0.0, temperature=2.0,
                       label_smoothing=0.1)
    lprobs = F.log_softmax(student, dim=-1).view(-1, student.size(-1))
    ref_loss, ref_nll = label_smoothed_nll_loss(lprobs, target.view(-1), 0.1, ignore_index=PAD)
    assert torch.allclose(res.loss, ref_loss)
    assert torch.allclose(res.nll_loss, ref_nll)
    assert res.kd_loss.item() == 0.0


def test_interpolation_weights_the_two_parts():
    student, teacher, target = batch(1)
    res = word_kd_loss(student, [teacher], target, PAD, alpha=0.3, temperature=1.5,
                       label_smoothing=0.1)
    assert torch.allclose(res.loss, 0.7 * res.ls_loss + 0.3 * res.kd_loss)
    assert res.kd_loss.item() > 0


def test_kl_matches_hand_computation_with_temperature():
    student = torch.tensor([[1.0, 2.0, 0.5], [0.0, 0.0, 3.0]])
    teacher = torch.tensor([[2.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    target = torch.tensor([2, PAD])
    T = 2.0
    p = torch.softmax(teacher[0] / T, -1)
    q = torch.softmax(student[0] / T, -1)
    expected = T * T * (p * (p.log() - q.log())).sum()  # row 1 is padding: not counted
    got = kd_kl(student, teacher_probs([teacher], T), target, T, PAD)
    assert torch.allclose(got, expected)


def test_alpha_one_gradient_points_student_towards_teacher():
    student, teacher, target = batch(2)
    student = student.clone().requires_grad_(True)
    res = word_kd_loss(student, [teacher], target, PAD, alpha=1.0, temperature=1.0,
                       label_smoothing=0.0)
    res.loss.backward()
    q = torch.softmax(student.detach(), -1)
    p = torch.softmax(teacher, -1)
    mask = target.ne(PAD).unsqueeze(-1)
    # d KL(p||q) / d z_student = q - p at every real position, 0 at padding
    assert torch.allclose(student.grad, (q - p) * mask, atol=1e-6)
    # one small step along -grad brings the student closer to the teacher
    before = kd_kl(student.detach().view(-1, 11), p.view(-1, 11), target.view(-1), 1.0, PAD)
    after = kd_kl((student.detach() - 0.5 * student.grad).view(-1, 11), p.view(-1, 11),
                  target.view(-1), 1.0, PAD)
    assert after < before


def test_padding_positions_do_not_contribute():
    student, teacher, target = batch(3)
    res1 = word_kd_loss(student, [teacher], target, PAD, 0.5, 2.0, 0.1)
    student2 = student.clone()
    student2[target.eq(PAD)] = 100.0  # garbage at padded positions
    res2 = word_kd_loss(student2, [teacher], target, PAD, 0.5, 2.0, 0.1)
    assert torch.allclose(res1.loss, res2.loss)


def test_ensemble_averages_teacher_distributions():
    a = torch.tensor([[3.0, 0.0, 0.0]])
    b = torch.tensor([[0.0, 3.0, 0.0]])
    p = teacher_probs([a, b], 1.0)
    assert torch.allclose(p, (torch.softmax(a, -1) + torch.softmax(b, -1)) / 2)
    assert torch.allclose(teacher_probs([a, a], 1.0), torch.softmax(a, -1))


def test_zero_kl_when_student_equals_teacher():
    student, _, target = batch(4)
    res = word_kd_loss(student, [student.clone()], target, PAD, 1.0, 3.0, 0.0)
    assert abs(res.kd_loss.item()) < 1e-5


@pytest.mark.parametrize("alpha,temperature", [(-0.1, 1.0), (1.5, 1.0), (0.5, 0.0)])
def test_bad_settings_are_rejected(alpha, temperature):
    student, teacher, target = batch()
    with pytest.raises(ValueError):
        word_kd_loss(student, [teacher], target, PAD, alpha, temperature, 0.1)


def test_label_smoothed_nll_without_smoothing_is_nll():
    lprobs = F.log_softmax(torch.randn(4, 6), -1)
    target = torch.tensor([2, 3, PAD, 5])
    loss, nll = label_smoothed_nll(lprobs, target, 0.0, PAD)
    manual = -(lprobs[0, 2] + lprobs[1, 3] + lprobs[3, 5])
    assert torch.allclose(loss, manual) and torch.allclose(nll, manual)


def test_topk_of_keeps_the_most_probable_tokens_renormalized():
    p = torch.tensor([[0.1, 0.5, 0.15, 0.25], [0.7, 0.1, 0.1, 0.1]])
    ids, probs = topk_of(p, 2)
    assert ids.tolist() == [[1, 3], [0, 1]] or ids.tolist() == [[1, 3], [0, 2]] \
        or ids.tolist() == [[1, 3], [0, 3]]
    assert torch.allclose(probs[0], torch.tensor([0.5, 0.25]) / 0.75)
    assert torch.allclose(probs.sum(-1), torch.ones(2))


def test_sparse_kl_equals_dense_kl_of_the_same_distribution():
    student, teacher, target = batch(4, v=13)
    v = student.size(-1)
    p = teacher_probs([teacher.view(-1, v)], 2.0)
    ids, probs = topk_of(p, 5)
    dense = torch.zeros_like(p).scatter(-1, ids, probs)
    want = kd_kl(student.view(-1, v), dense, target.view(-1), 2.0, PAD)
    got = kd_kl_topk(student.view(-1, v), ids, probs, target.view(-1), 2.0, PAD)
    assert torch.allclose(got, want, rtol=1e-5)
    # and through word_kd_loss, shaped like a batch
    res = word_kd_loss(student, [], target, PAD, 0.5, 2.0, 0.1,
                       teacher_topk=(ids.view(*target.shape, 5), probs.view(*target.shape, 5)))
    assert torch.allclose(res.kd_loss, want, rtol=1e-5)


def test_topk_with_k_equal_to_the_vocabulary_is_the_full_kl():
    student, teacher, target = batch(5)
    v = student.size(-1)
    p = teacher_probs([teacher.view(-1, v)], 1.0)
    ids, probs = topk_of(p, v)
    full = kd_kl(student.view(-1, v), p, target.view(-1), 1.0, PAD)
    assert torch.allclose(kd_kl_topk(student.view(-1, v), ids, probs, target.view(-1), 1.0,
                                     PAD), full, rtol=1e-5)
