"""The attention_rollout check (chapter 07): correct alternatives pass, the hints fit."""

import functools

import torch

from vitlearn import checks
from vitlearn.interpret import attention_rollout


def rollout_loop(attentions, residual=0.5):
    """Written the way the paper reads: average heads, add I, renormalise, chain."""
    t = attentions.shape[-1]
    rollout = torch.eye(t, dtype=attentions.dtype).expand(attentions.shape[1], t, t)
    for weights in attentions:
        a = (1 - residual) * weights.mean(1) + residual * torch.eye(t, dtype=weights.dtype)
        rollout = (a / a.sum(-1, keepdim=True)) @ rollout
    return rollout


def rollout_multi_dot(attentions, residual=0.5):
    """All layers at once, then one product (the last layer leftmost)."""
    t = attentions.shape[-1]
    mixed = (1 - residual) * attentions.mean(2) + residual * torch.eye(t, dtype=attentions.dtype)  # (L, B, T, T)
    mixed = mixed / mixed.sum(-1, keepdim=True)
    return torch.stack([torch.linalg.multi_dot(list(layers.flip(0))) if len(layers) > 1 else layers[0]
                        for layers in mixed.transpose(0, 1)])  # (B, T, T)


def rollout_einsum_reduce(attentions, residual=0.5):
    """einsum for the head average, functools.reduce for the chain."""
    eye = torch.eye(attentions.shape[-1], dtype=attentions.dtype)
    layers = [(1 - residual) * torch.einsum("bhqk->bqk", w) / w.shape[1] + residual * eye for w in attentions]
    layers = [a / a.sum(-1, keepdim=True) for a in layers]
    return functools.reduce(lambda below, layer: layer @ below, layers)


def test_correct_alternatives_pass():
    for fn in (rollout_loop, rollout_multi_dot, rollout_einsum_reduce):
        assert checks.attention_rollout(fn, verbose=False).passed, fn.__name__


def test_a_float32_rollout_of_float64_weights_is_told_not_to_convert(capsys):
    result = checks.attention_rollout(lambda a, r=0.5: rollout_loop(a.float(), r))
    assert not result.passed
    assert "expected torch.float64" in capsys.readouterr().out


def test_a_list_of_layers_gives_the_same_rollout_as_the_stack():
    weights = torch.randn(3, 2, 4, 5, 5, dtype=torch.float64).softmax(-1)  # (L, B, h, T, T)
    assert torch.equal(attention_rollout(list(weights)), attention_rollout(weights))
    assert attention_rollout(weights.float()).dtype == torch.float32
