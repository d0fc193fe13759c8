"""Attention rollout, attention distance and the filters' principal components, against small
computations written out independently (loops, numpy)."""

import numpy as np
import pytest
import torch

from vitlearn import interpret
from vitlearn.model import ViT


def _random_attention(layers=3, batch=2, heads=2, tokens=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(batch, heads, tokens, tokens, generator=g, dtype=torch.float64).softmax(-1)
            for _ in range(layers)]


def test_rollout_matches_a_loop_over_layers_in_numpy():
    attentions = _random_attention()
    expected = []
    for b in range(2):
        result = np.eye(5)
        for layer in attentions:  # input first
            a = 0.5 * layer[b].double().numpy().mean(axis=0) + 0.5 * np.eye(5)
            a = a / a.sum(axis=1, keepdims=True)
            result = a @ result
        expected.append(result)
    rollout = interpret.attention_rollout(attentions)
    assert rollout.shape == (2, 5, 5)
    np.testing.assert_allclose(rollout.numpy(), np.stack(expected), atol=1e-12)
    np.testing.assert_allclose(rollout.sum(-1).numpy(), 1.0, atol=1e-12)


def test_rollout_order_matters_and_identity_layers_change_nothing():
    attentions = _random_attention(layers=2)
    forward = interpret.attention_rollout(attentions)
    assert not torch.allclose(forward, interpret.attention_rollout(attentions[::-1]))
    eye = [torch.eye(5).expand(2, 2, 5, 5)]
    assert torch.allclose(interpret.attention_rollout(attentions + eye), forward)
    assert torch.allclose(interpret.attention_rollout(attentions, residual=0.0)[0],
                          attentions[1][0].double().mean(0) @ attentions[0][0].double().mean(0))


def test_cls_rollout_map_is_the_cls_row_as_a_grid():
    attentions = _random_attention(tokens=1 + 6)
    maps = interpret.cls_rollout_map(attentions, (2, 3))
    row = interpret.attention_rollout(attentions)[:, 0, 1:]
    assert maps.shape == (2, 2, 3)
    assert torch.allclose(maps.flatten(1), row / row.sum(-1, keepdim=True))
    with pytest.raises(ValueError, match="needs T = 5"):
        interpret.cls_rollout_map(attentions, (2, 2))


def test_mean_attention_distance_against_loops():
    grid, patch = (2, 3), 4
    attentions = _random_attention(layers=2, tokens=1 + 6)
    centres = [(i * patch, j * patch) for i in range(2) for j in range(3)]
    expected = np.zeros((2, 2))
    for depth, layer in enumerate(attentions):
        for h in range(2):
            total = 0.0
            for b in range(2):
                for q in range(6):
                    w = layer[b, h, 1 + q, 1:].double().numpy()
                    w = w / w.sum()
                    total += sum(w[k] * np.hypot(centres[q][0] - centres[k][0], centres[q][1] - centres[k][1])
                                 for k in range(6))
            expected[depth, h] = total / (2 * 6)
    np.testing.assert_allclose(interpret.mean_attention_distance(attentions, grid, patch).numpy(), expected,
                               atol=1e-12)


def test_attention_distance_of_local_and_uniform_heads():
    grid = (3, 3)
    local = torch.eye(10).expand(1, 1, 10, 10)  # each patch attends to itself only: distance 0
    uniform = torch.full((1, 1, 10, 10), 0.1)
    assert interpret.mean_attention_distance([local], grid, 2).item() == 0
    assert interpret.mean_attention_distance([uniform], grid, 2).item() == pytest.approx(
        interpret.patch_distances(grid, 2).mean().item())


def test_filter_components_are_the_top_principal_directions():
    g = torch.Generator().manual_seed(0)
    weight = torch.randn(32, 1, 4, 4, generator=g) * torch.linspace(3, 0.1, 16).reshape(1, 1, 4, 4)
    components, explained = interpret.embedding_filter_components(weight, 5)
    assert components.shape == (5, 1, 4, 4) and explained.shape == (5,)
    flat = weight.double().flatten(1).numpy()
    values, vectors = np.linalg.eigh(np.cov(flat, rowvar=False))  # ascending
    for i in range(5):
        assert abs(float(components[i].flatten() @ torch.from_numpy(vectors[:, -1 - i]))) == pytest.approx(1, abs=1e-9)
    np.testing.assert_allclose(explained.numpy(), (values[::-1] / values.sum())[:5], atol=1e-12)
    assert (explained[:-1] >= explained[1:]).all()


def test_works_on_a_real_models_attention():
    model = ViT(image_size=8, patch_size=2, in_channels=1, dim=16, depth=2, num_heads=2)
    _, attentions = model(torch.rand(3, 1, 8, 8), return_attention=True)
    assert interpret.cls_rollout_map(attentions, model.grid).shape == (3, 4, 4)
    assert interpret.mean_attention_distance(attentions, model.grid, 2).shape == (2, 2)
