"""selfattn: self-attention step by step, in plain numpy."""

from .dot_product import attention, attention_weights, self_attention, self_attention_loops
from .encoding import one_hot
from .flash import flash_attention
from .gpt import GPT
from .gradients import attention_backward
from .masks import causal_mask, padding_mask
from .multihead import MultiHeadAttention, merge_heads, split_heads
from .normalise import layer_norm, softmax
from .positions import rotary_embedding, sinusoidal_positions
from .transformer import TransformerBlock

__version__ = "0.1.0"  # the one place: pyproject.toml reads it, and so does the site (docs/hooks/version.py)

__all__ = [
    "GPT",
    "MultiHeadAttention",
    "TransformerBlock",
    "attention",
    "attention_backward",
    "attention_weights",
    "causal_mask",
    "flash_attention",
    "layer_norm",
    "merge_heads",
    "one_hot",
    "padding_mask",
    "rotary_embedding",
    "self_attention",
    "self_attention_loops",
    "sinusoidal_positions",
    "softmax",
    "split_heads",
]
