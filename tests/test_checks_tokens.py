"""The chapter 03-04 checks accept every correct answer and reject wrong ones with the right hint."""

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange, repeat

from vitlearn.checks.tokens import EXERCISES


def check(name, fn, **kwargs):
    return EXERCISES[name].check(fn, **kwargs)


# ---- correct alternatives: each must be accepted ----------------------------------------------------

def cls_expand(patch_embedding, cls_token):
    b, _, d = patch_embedding.shape
    return torch.cat([cls_token.expand(b, 1, d), patch_embedding], dim=1)


def cls_repeat(patch_embedding, cls_token):
    return torch.cat([cls_token[None].repeat(patch_embedding.shape[0], 1, 1), patch_embedding], dim=1)


def cls_tile_post_fixed(patch_embedding, cls_token):  # the blog post's torch.cat([[bs, cls], x]), fixed with tile
    return torch.cat([torch.tile(cls_token, [patch_embedding.shape[0], 1, 1]), patch_embedding], dim=1)


def cls_einops(patch_embedding, cls_token):
    return torch.cat([repeat(cls_token, "1 d -> b 1 d", b=patch_embedding.shape[0]), patch_embedding], dim=1)


def cls_by_padding(patch_embedding, cls_token):
    padded = F.pad(patch_embedding, (0, 0, 1, 0))  # a zero row in front
    return padded + F.pad(cls_token[None], (0, 0, 0, patch_embedding.shape[1]))  # cls in row 0 only


def position_broadcast(token_embedding, position_table):
    return token_embedding + position_table[: token_embedding.shape[1]]


def position_unsqueeze(token_embedding, position_table):
    return token_embedding + position_table[: token_embedding.shape[1]].unsqueeze(0)


def position_expand(token_embedding, position_table):
    b, t, d = token_embedding.shape
    return token_embedding + position_table[:t].expand(b, t, d)


def position_tile_post(token_embedding, position_table):  # the post's tile, added out of place
    b, t, _ = token_embedding.shape
    return token_embedding + torch.tile(position_table[:t], [b, 1, 1])


def position_clone_then_add_in_place(token_embedding, position_table):
    out = token_embedding.clone()
    out += position_table[: out.shape[1]]
    return out


def interpolate_einops(table, old_grid, new_grid, num_prefix_tokens=1):
    prefix, rows = table[:num_prefix_tokens], table[num_prefix_tokens:]
    grid = rearrange(rows, "(h w) d -> 1 d h w", h=old_grid[0])
    grid = F.interpolate(grid, size=new_grid, mode="bicubic", align_corners=False)
    return torch.cat([prefix, rearrange(grid, "1 d h w -> (h w) d")])


def interpolate_transpose_view(table, old_grid, new_grid, num_prefix_tokens=1):
    rows = table[num_prefix_tokens:]
    grid = rows.T.reshape(1, -1, *old_grid)  # (1, D, old_h, old_w)
    grid = F.interpolate(grid, size=tuple(new_grid), mode="bicubic", align_corners=False)
    return torch.cat([table[:num_prefix_tokens], grid.flatten(2)[0].T])


def interpolate_channel_by_channel(table, old_grid, new_grid, num_prefix_tokens=1):
    rows = table[num_prefix_tokens:]
    maps = [F.interpolate(rows[:, c].reshape(1, 1, *old_grid), size=tuple(new_grid), mode="bicubic",
                          align_corners=False).flatten() for c in range(rows.shape[1])]
    return torch.cat([table[:num_prefix_tokens], torch.stack(maps, dim=1)])


def interpolate_hugging_face_style(table, old_grid, new_grid, num_prefix_tokens=1):
    d = table.shape[1]
    grid = table[None, num_prefix_tokens:].reshape(1, *old_grid, d).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=tuple(new_grid), mode="bicubic", align_corners=False)
    return torch.cat((table[None, :num_prefix_tokens], grid.permute(0, 2, 3, 1).view(1, -1, d)), dim=1)[0]


ALTERNATIVES = {
    "prepend_cls": [cls_expand, cls_repeat, cls_tile_post_fixed, cls_einops, cls_by_padding],
    "add_position_embedding": [position_broadcast, position_unsqueeze, position_expand, position_tile_post,
                               position_clone_then_add_in_place],
    "interpolate_position_embedding": [interpolate_einops, interpolate_transpose_view,
                                       interpolate_channel_by_channel, interpolate_hugging_face_style],
}


@pytest.mark.parametrize("name, answer", [(n, a) for n, alts in ALTERNATIVES.items() for a in alts],
                         ids=lambda x: getattr(x, "__name__", x))
def test_correct_alternatives_pass(name, answer, capsys):
    result = check(name, answer)
    assert result.passed and result and result.score == 1.0
    out = capsys.readouterr()
    assert out.out.startswith(f"✅ {name}: all") and out.err == ""


def test_every_check_has_at_least_three_alternatives_and_six_mistakes():
    assert set(EXERCISES) == set(ALTERNATIVES)
    for name, exercise in EXERCISES.items():
        assert len(ALTERNATIVES[name]) >= 3
        assert len(exercise.mistakes) >= 6


# ---- hints (each catalogued mistake is rejected with its hint: test_checks_catalogue.py) -----------

def test_hints_name_the_classic_mistakes():
    hints = {(n, m.name): m.hint for n, e in EXERCISES.items() for m in e.mistakes}
    assert "`torch.cat([[bs, cls_token], x], dim=1)`" in hints["prepend_cls", "post_nested_list"]
    assert "dim=1" in hints["prepend_cls", "cat_on_wrong_dim"]
    assert "erratum 7" in hints["add_position_embedding", "in_place_add"]
    assert "timm" in hints["interpolate_position_embedding", "antialias"]
    assert "shrinks" in hints["interpolate_position_embedding", "antialias"]


def test_the_blog_posts_lines_get_their_errata(capsys):
    def prepend_cls(patch_embedding, cls_token):  # the blog post's line, as written: a nested list
        return torch.cat([[patch_embedding.shape[0], cls_token], patch_embedding], dim=1)

    def add_position_embedding(token_embedding, position_table):  # the blog post's in-place +=, as written
        token_embedding += position_table[: token_embedding.shape[1]]
        return token_embedding

    check("prepend_cls", prepend_cls)
    check("add_position_embedding", add_position_embedding)
    out = capsys.readouterr().out
    assert "TypeError: expected Tensor as element 0 in argument 0, but got list" in out
    assert "a leaf Variable that requires grad is being used in an in-place operation" in out
    assert "erratum 7" in out


def test_a_learners_own_detach_gets_the_gradient_hint():
    def prepend_cls(patch_embedding, cls_token):
        cls = torch.tensor(cls_token.tolist(), dtype=cls_token.dtype)  # a copy outside the graph
        return torch.cat([cls.expand(patch_embedding.shape[0], 1, -1), patch_embedding], dim=1)

    result = check("prepend_cls", prepend_cls, verbose=False)
    assert "no gradient reaches `cls_token`" in result.message and "gradients must reach it" in result.message


def test_antialias_is_caught_even_when_upsampling():
    def interpolate_position_embedding(table, old_grid, new_grid, num_prefix_tokens=1):
        grid = table[num_prefix_tokens:].T.reshape(1, -1, *old_grid)
        grid = F.interpolate(grid, size=tuple(new_grid), mode="bicubic", antialias=True)
        return torch.cat([table[:num_prefix_tokens], grid.flatten(2)[0].T])

    # PyTorch's antialiased bicubic is PIL's kernel, so the first case (4x4 -> 6x6) already fails
    result = check("interpolate_position_embedding", interpolate_position_embedding, verbose=False)
    assert not result.cases[0].passed and "as timm does" in result.message


def test_cases_cover_what_the_issue_requires():
    for name, exercise in EXERCISES.items():
        dtypes = {a.dtype for c in exercise.make_cases() for a in c.args if isinstance(a, torch.Tensor)}
        assert dtypes == {torch.float32, torch.float64}
    for case in EXERCISES["prepend_cls"].make_cases():
        x, cls = case.args
        assert x.shape[1] != x.shape[2] and x.shape[1] + 1 != x.shape[2] and cls.shape == (1, x.shape[2])
    assert any(c.args[0].shape[0] > 1 for c in EXERCISES["prepend_cls"].make_cases())
    for case in EXERCISES["add_position_embedding"].make_cases():
        x, table = case.args
        assert x.shape[1] != x.shape[2] and x.shape[1] <= table.shape[0]
    assert any(c.args[0].shape[0] > 1 for c in EXERCISES["add_position_embedding"].make_cases())
    grids = [(c.args[1], c.args[2]) for c in EXERCISES["interpolate_position_embedding"].make_cases()]
    assert any(old[0] != old[1] for old, _ in grids) and any(new[0] != new[1] for _, new in grids)
    assert any(new[0] * new[1] > old[0] * old[1] for old, new in grids)  # upsampling
    assert any(new[0] < old[0] and new[1] < old[1] for old, new in grids)  # downsampling
