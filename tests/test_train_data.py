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


def test_digits_validation_is_carved_from_training_stratified_and_seeded():
    whole, split = digits(), digits(validation=0.2)
    assert whole.validation_images is None and whole.validation_labels is None
    assert (len(split.train_images), len(split.validation_images)) == (1149, 288)
    assert torch.equal(split.test_images, whole.test_images)  # the test images never move
    # train + validation is the whole training set, each image exactly once
    rows = {tuple(x.flatten().tolist()) for x in torch.cat([split.train_images, split.validation_images])}
    assert rows == {tuple(x.flatten().tolist()) for x in whole.train_images}
    assert len(split.train_images) + len(split.validation_images) == len(whole.train_images)
    expected = 0.2 * whole.train_labels.bincount()
    assert ((split.validation_labels.bincount() - expected).abs() <= 1).all()  # every class in its share
    assert torch.equal(digits(validation=0.2).validation_images, split.validation_images)  # seeded
    assert not torch.equal(digits(validation=0.2, seed=1).validation_images, split.validation_images)


@pytest.mark.parametrize("validation", [-0.1, 1.0, True, "0.2"])
def test_digits_rejects_a_validation_that_is_no_fraction(validation):
    with pytest.raises(ValueError, match="validation must be a fraction"):
        digits(validation=validation)


def test_learning_rate_warms_up_then_decays_to_zero():
    rates = [learning_rate_by_step(step, 100, 1.0, 0.1) for step in range(100)]
    assert rates[0] == pytest.approx(0.1) and rates[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(rates[9:], rates[10:])) and rates[-1] < 0.01


def _tiny_run(seed):
    split = digits()
    torch.manual_seed(seed)
    model = ViT(image_size=8, patch_size=4, in_channels=1, dim=32, depth=1, num_heads=2)
    history = train(model, split.train_images[:256], split.train_labels[:256],
                    TrainConfig(epochs=4, batch_size=64, seed=seed), evaluation=(split.test_images, split.test_labels))
    return model, history


def test_training_lowers_the_loss_and_beats_chance():
    model, history = _tiny_run(0)
    assert len(history.step_loss) == 16 and len(history.evaluation_accuracy) == 4
    assert history.epoch_loss[-1] < history.epoch_loss[0]
    split = digits()
    assert evaluate(model, split.test_images, split.test_labels) == history.evaluation_accuracy[-1] > 0.3
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
