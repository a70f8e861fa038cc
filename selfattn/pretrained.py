"""GPT-2's files as Hugging Face transformers writes them, read into the fields of a `GPT`.

``GPT2LMHeadModel.save_pretrained(folder)`` writes ``config.json`` and ``model.safetensors``.
Its arrays are named as in the model's ``state_dict`` (``transformer.h.0.attn.c_attn.weight``;
OpenAI's GPT-2 on the Hugging Face Hub has the same names without ``transformer.``). Its
``Conv1D`` layers compute ``x @ weight + bias``, as ``selfattn`` does: their weights are
already (in, out), and ``c_attn`` holds ``w_q``, ``w_k`` and ``w_v`` side by side.
"""

import json
from pathlib import Path

import numpy as np

from .multihead import MultiHeadAttention
from .transformer import TransformerBlock

EXPECTED = "path must be a folder written by GPT2LMHeadModel.save_pretrained (config.json and model.safetensors)"
# transformers' activation_function -> TransformerBlock's activation
ACTIVATIONS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu"}
# the settings GPT computes with, as GPT-2's config.json spells them (with transformers' defaults)
FIXED = {
    "layer_norm_epsilon": 1e-5,
    "scale_attn_weights": True,
    "scale_attn_by_inverse_layer_idx": False,
    "add_cross_attention": False,
    "tie_word_embeddings": True,
}
BUFFERS = (".attn.bias", ".attn.masked_bias")  # the causal mask, which older versions saved: not weights


def read_gpt2(path):
    """The fields of a `GPT` (``wte``, ``wpe``, ``blocks``, ``ln_f_w``, ``ln_f_b``) from the folder ``path``."""
    folder = Path(path)
    config = read_config(folder)
    file = folder / "model.safetensors"
    if not file.is_file():
        raise ValueError(f"{EXPECTED}; {folder} has no model.safetensors")
    try:
        from safetensors.numpy import load_file
    except ImportError:
        raise ImportError(
            "GPT.from_pretrained reads model.safetensors with the safetensors package: pip install selfattn[gpt2]"
        ) from None
    return gpt2_fields(config, load_file(file))


def read_config(folder):
    """``config.json`` as a dict, if it describes a GPT-2 that `GPT` computes exactly."""
    file = folder / "config.json"
    if not file.is_file():
        raise ValueError(f"{EXPECTED}; {folder} has no config.json")
    config = json.loads(file.read_text())
    if config.get("model_type") != "gpt2":
        raise ValueError(
            f"config.json must be GPT-2's (model_type 'gpt2'); got model_type {config.get('model_type')!r}"
        )
    activation = config.get("activation_function", "gelu_new")
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"config.json's activation_function must be one of {', '.join(map(repr, ACTIVATIONS))}; got {activation!r}"
        )
    for key, value in FIXED.items():
        if config.get(key, value) != value:
            raise ValueError(f"config.json must have {key} = {value!r}, as GPT computes; got {config[key]!r}")
    for key in ("vocab_size", "n_positions", "n_embd", "n_head", "n_layer"):
        value = config.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"config.json must give {key} as a positive int; got {value!r}")
    return config


def gpt2_fields(config, arrays):
    """A `GPT`'s fields from GPT-2's ``config`` (a dict) and ``arrays`` (named as in its state dict).

    Each array must have the shape the config gives it; an error names the first that does
    not, and any array the config does not describe. The arrays keep their dtype.
    """
    prefix = "transformer." if any(name.startswith("transformer.") for name in arrays) else ""  # not on the Hub
    arrays = {name.removeprefix(prefix): value for name, value in arrays.items()}
    d, n_layer = config["n_embd"], config["n_layer"]
    d_ff = config.get("n_inner") or 4 * d
    sizes = f"vocab_size={config['vocab_size']}, n_positions={config['n_positions']}, n_embd={d}, d_ff={d_ff}"
    used = set()

    def get(name, shape):
        if name not in arrays:
            raise ValueError(
                f"model.safetensors must hold {prefix}{name} (config.json has n_layer={n_layer}); it does not"
            )
        if arrays[name].shape != shape:
            raise ValueError(
                f"{prefix}{name} in model.safetensors must have shape {shape} ({sizes} in config.json); "
                f"got shape {arrays[name].shape}"
            )
        used.add(name)
        return arrays[name]

    blocks = []
    for i in range(n_layer):
        h = f"h.{i}."
        w_q, w_k, w_v = np.split(get(h + "attn.c_attn.weight", (d, 3 * d)), 3, axis=1)
        b_q, b_k, b_v = np.split(get(h + "attn.c_attn.bias", (3 * d,)), 3)
        w_o, b_o = get(h + "attn.c_proj.weight", (d, d)), get(h + "attn.c_proj.bias", (d,))
        attn = MultiHeadAttention(
            n_heads=config["n_head"], w_q=w_q, w_k=w_k, w_v=w_v, w_o=w_o, b_q=b_q, b_k=b_k, b_v=b_v, b_o=b_o
        )
        block = TransformerBlock(
            attn=attn,
            ln1_w=get(h + "ln_1.weight", (d,)),
            ln1_b=get(h + "ln_1.bias", (d,)),
            ln2_w=get(h + "ln_2.weight", (d,)),
            ln2_b=get(h + "ln_2.bias", (d,)),
            w_1=get(h + "mlp.c_fc.weight", (d, d_ff)),
            b_1=get(h + "mlp.c_fc.bias", (d_ff,)),
            w_2=get(h + "mlp.c_proj.weight", (d_ff, d)),
            b_2=get(h + "mlp.c_proj.bias", (d,)),
            activation=ACTIVATIONS[config.get("activation_function", "gelu_new")],
        )
        blocks.append(block)
    fields = {
        "wte": get("wte.weight", (config["vocab_size"], d)),
        "wpe": get("wpe.weight", (config["n_positions"], d)),
        "blocks": tuple(blocks),
        "ln_f_w": get("ln_f.weight", (d,)),
        "ln_f_b": get("ln_f.bias", (d,)),
    }
    head = arrays.pop("lm_head.weight", None)  # saved by some versions, though tied
    if head is not None and not np.array_equal(head, fields["wte"]):
        raise ValueError(
            "lm_head.weight in model.safetensors must equal wte.weight (GPT-2's head is tied); it does not"
        )
    unknown = sorted(prefix + name for name in arrays if name not in used and not name.endswith(BUFFERS))
    if unknown:
        raise ValueError(f"model.safetensors must hold only what config.json describes; got also {', '.join(unknown)}")
    return fields
