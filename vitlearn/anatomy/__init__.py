"""Chapter 00: the Transformer beyond ViT, built from the same blocks, and two experiments.

The names chapter 00 calls as ``anatomy.<name>``, from two rooms:

* ``vitlearn.anatomy.decoder``     - what the chapter teaches: the decoder block, the decoder-only
  and encoder-decoder models (encoder-only is ``vitlearn.model.ViT``), greedy generation;
* ``vitlearn.anatomy.experiments`` - what it measures: attention's ``N^2`` cost, and a CNN against a
  ViT on less and less data.
"""

from vitlearn.anatomy.decoder import (
    DecoderBlock,
    EncoderDecoder,
    NextTokenModel,
    TokenEmbedding,
    generate,
    load_into_torch,
)
from vitlearn.anatomy.experiments import SmallCNN, data_efficiency, inductive_bias_models, measure_attention_cost
from vitlearn.measure import fit_quadratic

__all__ = [
    "DecoderBlock", "EncoderDecoder", "NextTokenModel", "SmallCNN", "TokenEmbedding", "data_efficiency",
    "fit_quadratic", "generate", "inductive_bias_models", "load_into_torch", "measure_attention_cost",
]
