"""The digits split and the training loop."""

import pytest
import torch

from vitlearn.data import digits, stratified_subset
from vitlearn.model import ViT
from vitlearn.train import TrainConfig, evaluate, learning_rate_by_step, train


def test_digits_split_is_fixed_stratified_and_scaled():
    split = digits()
    assert split.train_images.shape == (1437, 1, 8, 8) and split.test_images.shape == (360, 1, 8, 8)
    assert split.train_labels.dtype == torch.int64 and split.train_images.dtype == torch.float32
    assert split.train_images.min() == 0 and split.train_images.max() == 1
    per_class = torch.cat([split.train_labels, split.test_labels]).bincount()
    assert ((split.test_labels.bincount() - 0.2 * per_class).abs() <= 1).all()  # stratified: 20 % of each class
    assert torch.equal(digits().test_images, split.test_images)  # the same split every time


def test_learning_rate_warms_up_then_decays_to_zero():
    rates = [learning_rate_by_step(step, 100, 1.0, 0.1) for step in range(100)]
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(rates[9:], rates[10:])) and rates[-1] < 0.01


def _tiny_run(seed):
    split = digits()
    torch.manual_seed(seed)
    model = ViT(image_size=8, patch_size=4, in_channels=1, dim=32, depth=1, num_heads=2)
    history = train(model, split.train_images[:256], split.train_labels[:256],
                    TrainConfig(epochs=4, batch_size=64, seed=seed), test=(split.test_images, split.test_labels))
    return model, history


def test_training_lowers_the_loss_and_beats_chance():
    model, history = _tiny_run(0)
    assert len(history.step_loss) == 16 and len(history.test_accuracy) == 4
    assert history.epoch_loss[-1] < history.epoch_loss[0]
    split = digits()
    assert evaluate(model, split.test_images, split.test_labels) == history.test_accuracy[-1] > 0.3
    assert model.training  # evaluate restores the mode it found


def test_training_is_reproducible_with_a_seed():
    assert _tiny_run(1)[1].step_loss == _tiny_run(1)[1].step_loss


def test_stratified_subset_keeps_each_class_share_and_is_seeded():
    labels = digits().train_labels
    for fraction in (0.1, 0.3):
        keep = stratified_subset(labels, fraction, seed=0)
        assert len(keep) == int(fraction * len(labels)) and len(set(keep.tolist())) == len(keep)
        assert ((labels[keep].bincount() - fraction * labels.bincount()).abs() <= 1).all()  # every class in its share
        assert torch.equal(keep, stratified_subset(labels, fraction, seed=0))
        assert not torch.equal(keep, stratified_subset(labels, fraction, seed=1))
    assert torch.equal(stratified_subset(labels, 1.0), torch.arange(len(labels)))


@pytest.mark.parametrize("labels, fraction, error", [
    (torch.arange(10), 0.0, ValueError), (torch.arange(10), 1.5, ValueError), (torch.arange(10), True, ValueError),
    (torch.rand(10), 0.5, TypeError), (torch.zeros(2, 5, dtype=torch.int64), 0.5, TypeError),
])
def test_stratified_subset_rejects_bad_input(labels, fraction, error):
    with pytest.raises(error):
        stratified_subset(labels, fraction)
