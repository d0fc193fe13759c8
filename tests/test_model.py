"""The assembled ViT: behaviour a user notices, and equality with Hugging Face's ViT."""

from dataclasses import asdict, replace

import pytest
import torch
import torch.nn.functional as F

from vitlearn.model import (
    DIGITS_HYBRID,
    DIGITS_MODEL,
    ViT,
    ViTConfig,
    _state_dict_from_hf,
    classification_loss,
    cls_token_output,
)


def _images(batch=4, size=32, channels=3, seed=0):
    return torch.randn(batch, channels, size, size, generator=torch.Generator().manual_seed(seed))


# ---- cls_token_output and classification_loss ----------------------------------------------------

def test_cls_token_output_is_row_zero_of_each_sequence():
    encoded = torch.randn(3, 5, 8)
    out = cls_token_output(encoded)
    assert out.shape == (3, 8)
    for b in range(3):
        assert torch.equal(out[b], encoded[b, 0])


def test_classification_loss_matches_the_formula():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(6, 4, generator=g, dtype=torch.float64)
    labels = torch.tensor([0, 3, 1, 1, 2, 0])
    by_hand = torch.stack([torch.logsumexp(logits[i], 0) - logits[i, labels[i]] for i in range(6)]).mean()
    torch.testing.assert_close(classification_loss(logits, labels), by_hand, rtol=0, atol=1e-12)


@pytest.mark.parametrize("call, error, words", [
    (lambda: cls_token_output(torch.zeros(5, 8)), ValueError, "(B, T, D)"),
    (lambda: classification_loss(torch.zeros(4), torch.zeros(4, dtype=torch.long)), ValueError, "(B, K)"),
    (lambda: classification_loss(torch.zeros(4, 3), torch.zeros(4)), TypeError, "int64"),
    (lambda: classification_loss(torch.zeros(4, 3), torch.zeros(5, dtype=torch.long)), ValueError, "(4,)"),
    (lambda: classification_loss(torch.zeros(2, 3), torch.tensor([0, 3])), ValueError, "[0, 3)"),
    (lambda: ViT(image_size=30, patch_size=4), ValueError, "divisible by the patch size 4"),
    (lambda: ViT(patch_size=0), ValueError, "patch_size must be a positive int, got 0"),
    (lambda: ViT(image_size=(8, 0)), ValueError, "image_size width must be a positive int"),
    (lambda: ViT(depht=2), TypeError, "depht"),
    (lambda: ViT(dim=30, num_heads=4), ValueError, "divisible"),
    (lambda: ViT(pool="max"), ValueError, "'cls' or 'mean'"),
    (lambda: ViT()(_images(size=30)), ValueError, "divisible by the patch size 4"),
    (lambda: ViT()(_images(channels=1)), ValueError, "C=1"),
])
def test_bad_input_raises_a_clear_error(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)


# ---- the model ------------------------------------------------------------------------------------

@pytest.mark.parametrize("pool, pos", [("cls", "learned"), ("cls", "sincos"), ("mean", "learned"), ("mean", "sincos")])
def test_forward_gives_logits_and_different_images_get_different_logits(pool, pos):
    torch.manual_seed(0)
    model = ViT(image_size=32, patch_size=8, num_classes=7, dim=32, depth=2, num_heads=4, pool=pool, pos=pos)
    logits = model(_images())
    assert logits.shape == (4, 7)
    assert (logits[0] - logits[1]).abs().max() > 1e-4  # without batch_first, the blog post's encoder gave every image the same logits


def test_images_in_a_batch_do_not_affect_each_other():
    torch.manual_seed(0)
    model = ViT(image_size=16, patch_size=4, dim=32, depth=2, num_heads=4).eval()
    images = _images(size=16)
    alone = model(images[:1])
    together = model(torch.cat([images[:1], -images[1:]]))
    torch.testing.assert_close(together[:1], alone, rtol=0, atol=1e-5)


def test_every_parameter_is_trained():
    torch.manual_seed(0)
    model = ViT(image_size=16, patch_size=4, dim=32, depth=2, num_heads=4)
    classification_loss(model(_images(size=16)), torch.tensor([0, 1, 2, 3])).backward()
    names = {name for name, _ in model.named_parameters()}
    assert {"cls_token", "position_table", "patch_embedding.weight"} <= names  # the seed's bare tensors
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_a_larger_image_interpolates_the_learned_table():
    torch.manual_seed(0)
    model = ViT(image_size=16, patch_size=4, dim=32, depth=1, num_heads=4)
    assert model(_images(size=24)).shape == (4, 10)
    assert model.position_table_for((6, 6)).shape == (37, 32)
    assert model.position_table_for((4, 4)) is model.position_table


def test_attention_weights_come_back_without_changing_the_logits():
    torch.manual_seed(0)
    model = ViT(image_size=16, patch_size=4, dim=32, depth=3, num_heads=4).eval()
    images = _images(size=16)
    logits, attention = model(images, return_attention=True)
    torch.testing.assert_close(logits, model(images), rtol=1e-5, atol=1e-6)
    assert len(attention) == 3 and attention[0].shape == (4, 4, 17, 17)
    torch.testing.assert_close(attention[0].sum(-1), torch.ones(4, 4, 17))


def test_config_rebuilds_the_same_architecture():
    model = ViT(image_size=(16, 24), patch_size=4, dim=32, depth=1, num_heads=2, pool="mean", pos="sincos")
    clone = ViT(**model.config)
    clone.load_state_dict(model.state_dict())
    images = torch.randn(2, 3, 16, 24)
    torch.testing.assert_close(clone.eval()(images), model.eval()(images))


def test_a_config_is_built_once_and_reads_like_its_keyword_arguments():
    config = ViTConfig(image_size=8, patch_size=4, in_channels=1, dim=32, depth=1, num_heads=2)
    assert config.image_size == (8, 8) and config.grid == (2, 2) and config["dim"] == 32
    assert dict(config) == asdict(config) and ViTConfig(**asdict(config)) == config  # what a checkpoint stores
    assert ViT(config).config == ViT(**config).config == config
    assert ViT(config, depth=2).config == replace(config, depth=2) and config.depth == 1  # the preset is unchanged
    assert DIGITS_HYBRID == replace(DIGITS_MODEL, stem_channels=32) and {**DIGITS_MODEL, "patch_size": 2}["dim"] == 64
    with pytest.raises(AttributeError):
        config.dim = 64  # frozen: a shared preset cannot be changed by accident



def test_the_hybrid_cuts_its_patches_from_a_3x3_convolution_of_the_image():
    torch.manual_seed(0)
    hybrid = ViT(image_size=16, patch_size=4, dim=32, depth=1, num_heads=2, stem_channels=8).eval()
    pure = ViT(**{**hybrid.config, "in_channels": 8, "stem_channels": 0}).eval()  # the same ViT over 8 channels
    pure.load_state_dict({k: v for k, v in hybrid.state_dict().items() if not k.startswith("stem.")})
    images = _images(size=16)
    conv = hybrid.stem[0]
    features = F.gelu(F.conv2d(images, conv.weight, conv.bias, padding=1))  # (B, 8, 16, 16), written out
    torch.testing.assert_close(hybrid(images), pure(features))
    assert hybrid.config["stem_channels"] == 8 and ViT(**hybrid.config).stem is not None
    assert ViT(image_size=16).stem is None and not any(k.startswith("stem") for k in ViT(image_size=16).state_dict())
    with pytest.raises(ValueError, match="stem_channels"):
        ViT(image_size=16, stem_channels=-2)

# ---- equality with Hugging Face ---------------------------------------------------------------------

transformers = pytest.importorskip("transformers")


def _hf_model(image_size=32, patch_size=8):
    torch.manual_seed(0)
    config = transformers.ViTConfig(image_size=image_size, patch_size=patch_size, num_channels=3, hidden_size=48,
                                    num_hidden_layers=3, num_attention_heads=4, intermediate_size=96,
                                    num_labels=5)
    return transformers.ViTForImageClassification(config).eval()


@pytest.mark.parametrize("size", [32, 40, 48, 64])
def test_from_hf_gives_the_same_logits_at_native_and_new_resolutions(size):
    hf = _hf_model()
    ours = ViT.from_hf(hf).eval()
    images = _images(batch=3, size=size)
    with torch.no_grad():
        expected = hf(pixel_values=images, interpolate_pos_encoding=size != 32).logits
        torch.testing.assert_close(ours(images), expected, rtol=0, atol=1e-5)


def test_from_hf_reads_transformers_4_names_too():
    hf = _hf_model()
    v5 = hf.state_dict()
    to_v4 = {"attention.q_proj": "attention.attention.query", "attention.k_proj": "attention.attention.key",
             "attention.v_proj": "attention.attention.value", "attention.o_proj": "attention.output.dense",
             "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense"}
    v4 = {}
    for name, tensor in v5.items():
        name = name.replace("vit.layers.", "vit.encoder.layer.")
        for new, old in to_v4.items():
            name = name.replace(new, old)
        v4[name] = tensor
    assert _state_dict_from_hf(v4, 3).keys() == _state_dict_from_hf(v5, 3).keys()
    for key, tensor in _state_dict_from_hf(v4, 3).items():
        assert torch.equal(tensor, _state_dict_from_hf(v5, 3)[key])
