"""DeiT (chapter 08): the distillation token in ViT, the distillation loss, the teacher, the training."""

import json
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from vitlearn import distill
from vitlearn.distill import (
    TEACHER_EPOCHS,
    DistillationRecipe,
    digits_distillation_recipe,
    digits_teacher,
    distillation_batch_loss,
    distillation_loss,
    prefix_rollout_maps,
    token_similarity_by_layer,
    train_deit,
)
from vitlearn.interpret import attention_rollout
from vitlearn.model import DIGITS_DEIT, DIGITS_MODEL, ViT, ViTConfig
from vitlearn.tokens import interpolate_position_embedding
from vitlearn.train import History, TrainConfig, load_checkpoint, save_checkpoint


def _logits(batch=6, classes=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    cls_logits, distillation_logits, teacher_logits = 3 * torch.randn(3, batch, classes, generator=g, dtype=dtype)
    labels = torch.randint(classes, (batch,), generator=g)
    return cls_logits, distillation_logits, labels, teacher_logits


# ---- the loss ---------------------------------------------------------------------------------------


def _kl_by_hand(student_logits, teacher_logits, temperature):
    """KL(p_teacher || p_student) per image, summed over classes, written out: sum p_t (log p_t - log p_s)."""
    p_teacher = torch.exp(teacher_logits / temperature) / torch.exp(teacher_logits / temperature).sum(-1, keepdim=True)
    p_student = torch.exp(student_logits / temperature) / torch.exp(student_logits / temperature).sum(-1, keepdim=True)
    return (p_teacher * (p_teacher.log() - p_student.log())).sum(-1)  # (B,)


@pytest.mark.parametrize("alpha, temperature", [(0.5, 1.0), (0.5, 3.0), (0.1, 0.5), (1.0, 2.0)])
def test_the_soft_loss_is_the_kl_of_teacher_to_student_at_the_temperature(alpha, temperature):
    cls_logits, distillation_logits, labels, teacher_logits = _logits()
    ce = -torch.log_softmax(cls_logits, -1).gather(1, labels[:, None]).squeeze(1)  # (B,)
    expected = ((1 - alpha) * ce + alpha * temperature ** 2 * _kl_by_hand(distillation_logits, teacher_logits,
                                                                          temperature)).mean()
    loss = distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, alpha, temperature)
    torch.testing.assert_close(loss, expected, rtol=1e-12, atol=1e-12)


def test_hard_distillation_with_a_teacher_that_is_always_right_is_plain_cross_entropy():
    cls_logits, _, labels, _ = _logits()
    teacher_logits = F.one_hot(labels, 5).double() * 4 + torch.randn(6, 5, dtype=torch.float64)  # argmax = labels
    assert torch.equal(teacher_logits.argmax(-1), labels)
    loss = distillation_loss(cls_logits, cls_logits, labels, teacher_logits)
    torch.testing.assert_close(loss, F.cross_entropy(cls_logits, labels), rtol=0, atol=1e-14)


def test_hard_distillation_weighs_the_labels_and_the_teachers_labels():
    cls_logits, distillation_logits, labels, teacher_logits = _logits()
    expected = 0.75 * F.cross_entropy(cls_logits, labels) + 0.25 * F.cross_entropy(
        distillation_logits, teacher_logits.argmax(-1))
    torch.testing.assert_close(distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, 0.25),
                               expected, rtol=0, atol=1e-14)


@pytest.mark.parametrize("temperature", [None, 2.0])
def test_the_heads_get_gradients_and_the_teacher_none(temperature):
    cls_logits, distillation_logits, labels, teacher_logits = (t.requires_grad_(t.is_floating_point())
                                                               for t in _logits())
    distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, 0.5, temperature).backward()
    assert cls_logits.grad.abs().sum() > 0 and distillation_logits.grad.abs().sum() > 0
    assert teacher_logits.grad is None


def test_label_smoothing_smooths_the_labels_term_only():
    cls_logits, distillation_logits, labels, teacher_logits = _logits()
    expected = 0.5 * F.cross_entropy(cls_logits, labels, label_smoothing=0.1) + 0.5 * F.cross_entropy(
        distillation_logits, teacher_logits.argmax(-1))
    loss = distillation_loss(cls_logits, distillation_logits, labels, teacher_logits, label_smoothing=0.1)
    torch.testing.assert_close(loss, expected, rtol=0, atol=1e-14)


@pytest.mark.parametrize("change, words", [
    (dict(distillation_logits=torch.zeros(6, 4)), "distillation_logits must be a tensor of the cls_logits' shape"),
    (dict(teacher_logits=None), "teacher_logits must be a tensor"),
    (dict(alpha=1.5), "alpha"),
    (dict(temperature=0.0), "temperature must be a positive number"),
    (dict(labels=torch.zeros(6)), "labels must be a 1-D int64"),
])
def test_bad_input_raises_a_clear_error(change, words):
    cls_logits, distillation_logits, labels, teacher_logits = _logits()
    arguments = {**dict(cls_logits=cls_logits, distillation_logits=distillation_logits, labels=labels,
                        teacher_logits=teacher_logits), **change}
    with pytest.raises((ValueError, TypeError), match=words):
        distillation_loss(**arguments)


# ---- the model: a second prefix token and a second head ------------------------------------------


def _digits(batch=5, seed=0):
    return torch.rand(batch, 1, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_the_distillation_token_sits_after_cls_with_its_own_position_row_and_head():
    torch.manual_seed(0)
    model = ViT(DIGITS_DEIT)
    assert model.num_prefix_tokens == DIGITS_DEIT.num_prefix_tokens == 2
    assert model.position_table.shape == (2 + 4, 64)
    images = _digits()
    tokens = model.embed(images)  # (B, 2 + 4, D)
    torch.testing.assert_close(tokens[:, 0], (model.cls_token + model.position_table[0]).expand(5, -1))
    torch.testing.assert_close(tokens[:, 1], (model.distillation_token + model.position_table[1]).expand(5, -1))
    cls_logits, distillation_logits = model.heads(images)
    encoded, _ = model.encode(images)
    torch.testing.assert_close(cls_logits, model.head(encoded[:, 0]))
    torch.testing.assert_close(distillation_logits, model.distillation_head(encoded[:, 1]))
    assert not torch.allclose(cls_logits, distillation_logits)


def test_inference_averages_the_two_heads_logits():
    torch.manual_seed(0)
    model = ViT(DIGITS_DEIT).eval()
    images = _digits()
    cls_logits, distillation_logits = model.heads(images)
    torch.testing.assert_close(model(images), (cls_logits + distillation_logits) / 2)
    logits, attention = model(images, return_attention=True)
    torch.testing.assert_close(logits, model(images), rtol=1e-5, atol=1e-6)
    assert len(attention) == 4 and attention[0].shape == (5, 4, 6, 6)


def test_a_plain_vit_is_unchanged_and_has_no_second_head():
    model = ViT(DIGITS_MODEL)
    assert model.num_prefix_tokens == 1 and model.position_table.shape == (5, 64)
    assert not any(name.startswith("distillation") for name in model.state_dict())
    with pytest.raises(ValueError, match="distillation_token=True"):
        model.heads(_digits())


def test_a_distillation_token_needs_a_cls_token():
    with pytest.raises(ValueError, match="pool='cls'"):
        ViTConfig(pool="mean", distillation_token=True)


def test_every_parameter_of_deit_is_trained_by_the_distillation_loss():
    torch.manual_seed(0)
    model = ViT(DIGITS_DEIT)
    images, labels = _digits(8), torch.arange(8) % 10
    cls_logits, distillation_logits = model.heads(images)
    distillation_loss(cls_logits, distillation_logits, labels, torch.randn(8, 10)).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_a_larger_image_interpolates_the_patch_rows_and_keeps_both_prefix_rows():
    torch.manual_seed(0)
    model = ViT(DIGITS_DEIT).eval()
    table = model.position_table_for((3, 4))  # (2 + 12, D)
    assert table.shape == (14, 64)
    torch.testing.assert_close(table, interpolate_position_embedding(model.position_table, (2, 2), (3, 4), 2))
    assert torch.equal(table[:2], model.position_table[:2])
    assert model(torch.rand(2, 1, 12, 16)).shape == (2, 10)


def test_the_rollout_covers_both_prefix_tokens():
    torch.manual_seed(0)
    _, attention = ViT(DIGITS_DEIT).eval()(_digits(), return_attention=True)
    rollout = attention_rollout(attention)  # (B, 6, 6)
    assert rollout.shape == (5, 6, 6)
    torch.testing.assert_close(rollout.sum(-1), torch.ones(5, 6))


def test_a_deit_checkpoint_comes_back_as_deit(tmp_path):
    torch.manual_seed(0)
    model = ViT(DIGITS_DEIT).eval()
    loaded = load_checkpoint(save_checkpoint(model, tmp_path / "deit.pt"))
    assert loaded.config.distillation_token
    torch.testing.assert_close(loaded(_digits()), model(_digits()))


def test_the_token_similarity_is_one_cosine_per_layer_and_the_input():
    torch.manual_seed(0)
    model = ViT(DIGITS_DEIT).eval()
    similarity = token_similarity_by_layer(model, _digits())
    assert similarity.shape == (5,)  # the embeddings, then after each of 4 blocks
    tokens = model.embed(_digits())
    expected = F.cosine_similarity(tokens[:, 0], tokens[:, 1], dim=-1).mean()
    torch.testing.assert_close(similarity[0], expected)
    with pytest.raises(ValueError, match="distillation_token=True"):
        token_similarity_by_layer(ViT(DIGITS_MODEL), _digits())


# ---- equality with Hugging Face's DeiT ------------------------------------------------------------

transformers = pytest.importorskip("transformers")


@pytest.mark.parametrize("size", [32, 48])
def test_from_hf_deit_gives_the_same_logits_and_heads(size):
    config = transformers.DeiTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=48, num_hidden_layers=3,
                                     num_attention_heads=4, intermediate_size=96, num_labels=5)
    torch.manual_seed(0)
    hf = transformers.DeiTForImageClassificationWithTeacher(config).eval()
    with torch.no_grad():  # Hugging Face starts the tokens and biases at zero: move every weight
        for parameter in hf.parameters():
            parameter.add_(0.1 * torch.randn_like(parameter))
    ours = ViT.from_hf(hf).eval()
    assert ours.config.distillation_token and ours.num_prefix_tokens == 2
    images = torch.rand(3, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = hf(pixel_values=images, interpolate_pos_encoding=size != 32)
        cls_logits, distillation_logits = ours.heads(images)
        torch.testing.assert_close(ours(images), expected.logits, rtol=0, atol=1e-5)
        torch.testing.assert_close(cls_logits, expected.cls_logits, rtol=0, atol=1e-5)
        torch.testing.assert_close(distillation_logits, expected.distillation_logits, rtol=0, atol=1e-5)


# ---- the teacher and the training ----------------------------------------------------------------


def test_the_teacher_maps_digits_to_logits():
    assert digits_teacher()(_digits()).shape == (5, 10)
    assert digits_teacher(8, num_classes=3)(_digits()).shape == (5, 3)


def test_the_batch_loss_hook_gives_averaged_logits_and_the_distillation_loss():
    torch.manual_seed(0)
    student, teacher = ViT(DIGITS_DEIT), digits_teacher()
    images, labels = _digits(8), torch.arange(8) % 10
    logits, loss = distillation_batch_loss(teacher, alpha=0.5, temperature=2.0)(student, images, labels)
    cls_logits, distillation_logits = student.heads(images)
    torch.testing.assert_close(logits, (cls_logits + distillation_logits) / 2)
    with torch.no_grad():
        teacher_logits = teacher(images)
    torch.testing.assert_close(loss, distillation_loss(cls_logits, distillation_logits, labels, teacher_logits,
                                                       0.5, 2.0))
    assert not teacher.training


def _tiny_data():
    g = torch.Generator().manual_seed(0)
    return torch.rand(40, 1, 8, 8, generator=g), torch.randint(10, (40,), generator=g)


def test_train_deit_trains_the_teacher_then_the_student_by_epochs():
    images, labels = _tiny_data()
    torch.manual_seed(0)
    student, teacher = ViT(DIGITS_DEIT, depth=1), digits_teacher(4)
    before = [p.detach().clone() for p in (*student.parameters(), *teacher.parameters())]
    recipe = digits_distillation_recipe(budget=None, epochs=3, teacher_epochs=2, device="cpu")
    teacher_history, student_history = train_deit(student, teacher, images, labels, recipe, evaluation=(images, labels))
    assert len(teacher_history.epoch_loss) == 2 and len(student_history.epoch_loss) == 3
    assert len(student_history.evaluation_accuracy) == 3
    after = [*student.parameters(), *teacher.parameters()]
    assert all(not torch.equal(b, a) for b, a in zip(before, after))


def test_under_a_budget_the_student_gets_what_the_teacher_left(monkeypatch):
    budgets = []

    def fake_train(model, images, labels, config, evaluation=None, progress=False, batch_loss=None):
        budgets.append(config.budget)
        return History(epoch_seconds=[config.budget * 0.9])  # the teacher stops early, at 90 % of its budget

    monkeypatch.setattr(distill, "train", fake_train)
    recipe = DistillationRecipe(teacher=TrainConfig(epochs=None, budget=10), student=TrainConfig(epochs=None, budget=60),
                                budget=60)
    train_deit(ViT(DIGITS_DEIT, depth=1), digits_teacher(4), *_tiny_data(), recipe)
    assert budgets == [10, 51]  # 60 s in all: the teacher spent 9 of them
    recipe = replace(recipe, teacher=TrainConfig(epochs=None, budget=70))
    with pytest.raises(ValueError, match="nothing is left for the student"):
        train_deit(ViT(DIGITS_DEIT, depth=1), digits_teacher(4), *_tiny_data(), recipe)


def test_the_recipe_splits_the_budget_and_train_deit_wants_a_deit_student():
    recipe = digits_distillation_recipe(budget=60)
    assert recipe.budget == recipe.student.budget == 60 and recipe.teacher.budget is None  # the teacher: by epochs
    assert recipe.teacher.epochs == TEACHER_EPOCHS and recipe.student.epochs is None
    assert (recipe.alpha, recipe.temperature) == (0.5, 3.0)  # soft distillation: chosen on validation images
    with pytest.raises(ValueError, match="distillation_token=True"):
        train_deit(ViT(DIGITS_MODEL), digits_teacher(), *_tiny_data(), recipe)


def test_vitlearn_train_model_deit_trains_the_teacher_then_the_student(tmp_path, capsys):
    from vitlearn import cli

    out = tmp_path / "deit"
    assert cli.main(["train", "--out", str(out), "--model", "deit", "--epochs", "1", "--quiet", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "teacher CNN" in printed and "included" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["teacher_epochs"] == TEACHER_EPOCHS and metrics["epochs"] == 1
    assert metrics["training_seconds"] == pytest.approx(metrics["teacher_seconds"] + metrics["history"]["seconds"])
    assert 0 <= metrics["teacher_test_accuracy"] <= 1
    model = load_checkpoint(out / "model.pt")
    assert model.config.distillation_token and metrics["recipe"]["model"]["distillation_token"]


def test_a_deit_checkpoint_gets_chapter_08s_figures(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from vitlearn import figures

    torch.manual_seed(0)
    path = save_checkpoint(ViT(DIGITS_DEIT).eval(), tmp_path / "deit.pt", teacher_test_accuracy=0.99)
    drawn = figures.course_figures(path)
    assert [name for name in drawn if name.startswith(("06", "07_a", "08"))] == [
        "08_distillation_token", "08_token_similarity", "08_head_accuracy", "08_token_rollout"]
    for name in ("08_distillation_token", "08_token_similarity", "08_head_accuracy", "08_token_rollout"):
        assert drawn[name]().axes, name
    assert "teacher CNN" in [t.get_text() for t in drawn["08_head_accuracy"]().axes[0].get_yticklabels()]


def test_the_prefix_rollout_maps_are_the_rollout_rows_of_cls_and_the_distillation_token():
    torch.manual_seed(0)
    _, attention = ViT(DIGITS_DEIT).eval()(_digits(), return_attention=True)
    maps = prefix_rollout_maps(attention, (2, 2))  # (B, 2, 2, 2)
    rollout = attention_rollout(attention)  # (B, 6, 6)
    for token in (0, 1):
        row = rollout[:, token, 2:]
        torch.testing.assert_close(maps[:, token].flatten(1), row / row.sum(-1, keepdim=True))
    with pytest.raises(ValueError, match="2 prefix tokens needs T = 4"):
        prefix_rollout_maps(attention, (1, 2))
