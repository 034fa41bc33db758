import numpy as np
import pytest
import torch

from reproducers.common.metrics import aggregate_by_video, mse, topk_accuracy


def test_topk_accuracy_hand_example():
    logits = torch.tensor([[0.1, 0.9, 0.0],   # top1 = 1
                           [0.8, 0.1, 0.1],   # top1 = 0, top2 = {0, 1|2}
                           [0.2, 0.3, 0.5]])  # top1 = 2, top2 = {2, 1}
    targets = torch.tensor([1, 2, 1])
    top1, top2, top5 = topk_accuracy(logits, targets, ks=(1, 2, 5))
    assert top1 == pytest.approx(100 / 3)
    # row 1: scores 0.1, 0.1 tie -> lower index (1) ranks first, so class 2 is not in top-2
    assert top2 == pytest.approx(200 / 3)
    assert top5 == 100.0  # k larger than the number of classes counts as all classes


def test_mse():
    assert mse(np.array([1.0, 2.0, 4.0]), torch.tensor([1.0, 0.0, 1.0])) == pytest.approx(13 / 3)
    with pytest.raises(ValueError):
        mse([1.0], [1.0, 2.0])


def test_aggregate_sum_softmax_hand_example():
    # video 0 has two spans that disagree; summed softmax decides for class 1
    scores = np.array([[2.0, 0.0],    # v0: softmax (0.881, 0.119)
                       [0.0, 3.0],    # v1
                       [0.0, 2.5]])   # v0: softmax (0.076, 0.924)
    per = aggregate_by_video(scores, [0, 1, 0], "sum_softmax")
    assert isinstance(per, np.ndarray) and per.shape == (2, 2)
    e = np.exp
    np.testing.assert_allclose(per[0], [e(2) / (e(2) + 1) + 1 / (1 + e(2.5)),
                                        1 / (e(2) + 1) + e(2.5) / (1 + e(2.5))])
    np.testing.assert_allclose(per.sum(1), [2.0, 1.0])  # each span adds probability 1
    assert per.argmax(1).tolist() == [1, 1]
    assert topk_accuracy(per, [1, 0], ks=(1,)) == [50.0]


def test_aggregate_mean_and_padding_dedup():
    preds = torch.tensor([[1.0], [3.0], [10.0], [3.0]])  # last row: sampler padding of row 1
    per = aggregate_by_video(preds, torch.tensor([4, 4, 7, 4]), "mean", sample_index=[0, 1, 2, 1])
    assert isinstance(per, torch.Tensor) and per.dtype == torch.float32  # videos 4, 7 in order
    torch.testing.assert_close(per, torch.tensor([2.0, 10.0]))
    per_dup = aggregate_by_video(preds, [4, 4, 7, 4], "mean")
    torch.testing.assert_close(per_dup, torch.tensor([7 / 3, 10.0]))
    targets = aggregate_by_video(torch.tensor([3, 3, 1, 3]), [4, 4, 7, 4], "mean")
    assert targets.round().long().tolist() == [3, 1]


def test_aggregate_rejects_bad_input():
    with pytest.raises(ValueError):
        aggregate_by_video(np.zeros((3, 2)), [0, 1], "mean")
    with pytest.raises(ValueError):
        aggregate_by_video(np.zeros((2, 2)), [0, 1], "median")


def test_aggregate_sum_adds_probabilities_as_given():
    probs = np.array([[0.7, 0.3], [0.2, 0.8], [0.1, 0.9], [0.6, 0.4]])
    per = aggregate_by_video(probs, [3, 3, 5, 3], "sum")
    np.testing.assert_allclose(per, [[1.5, 1.5], [0.1, 0.9]])


def test_aggregate_max_takes_the_elementwise_maximum_per_video():
    scores = torch.tensor([[0.1, 0.9], [0.7, 0.2], [-1.0, -2.0], [0.3, 0.4]])
    per = aggregate_by_video(scores, [5, 5, 2, 5], "max")
    assert per.dtype == torch.float32
    torch.testing.assert_close(per, torch.tensor([[-1.0, -2.0], [0.7, 0.9]]))
