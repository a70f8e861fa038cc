"""GPT: the forward pass as its formula, the loss and its gradients by finite differences, the
KV cache against recomputing, sampling and construction checks.

Bad input, one row per argument and mistake, is in test_bad_input.py; the comparison with
Hugging Face transformers' GPT2LMHeadModel in test_torch_gpt.py.
"""

import dataclasses
import json
import re
import sys

import numpy as np
import pytest

from selfattn import GPT, MultiHeadAttention, TransformerBlock, layer_norm, softmax
from selfattn.gpt import _sample

BLOCK_FIELDS = ("ln1_w", "ln1_b", "ln2_w", "ln2_b", "w_1", "b_1", "w_2", "b_2")
MHA_FIELDS = ("w_q", "w_k", "w_v", "w_o", "b_q", "b_k", "b_v", "b_o")


def random_gpt(vocab=7, n_ctx=6, d_model=4, n_heads=2, n_layers=2, d_ff=5, seed=0, activation="gelu_tanh"):
    """A GPT whose every array is random: no zero bias or unit weight that could hide a mistake."""
    rng = np.random.default_rng(seed)

    def block():
        attn = {name: rng.normal(scale=0.5, size=(d_model, d_model)[: 1 + name.startswith("w")]) for name in MHA_FIELDS}
        shapes = {"w_1": (d_model, d_ff), "b_1": (d_ff,), "w_2": (d_ff, d_model)}
        params = {name: rng.normal(scale=0.5, size=shapes.get(name, (d_model,))) for name in BLOCK_FIELDS}
        params["ln1_w"] += 1
        params["ln2_w"] += 1
        return TransformerBlock(attn=MultiHeadAttention(n_heads=n_heads, **attn), activation=activation, **params)

    return GPT(
        wte=rng.normal(size=(vocab, d_model)),
        wpe=rng.normal(size=(n_ctx, d_model)),
        blocks=tuple(block() for _ in range(n_layers)),
        ln_f_w=1 + rng.normal(scale=0.3, size=d_model),
        ln_f_b=rng.normal(scale=0.3, size=d_model),
    )


def tokens_from(seed, vocab, *shape):
    return np.random.default_rng(seed).integers(vocab, size=shape)


# Construction


def test_init_shapes_and_starting_values():
    gpt = GPT.init(vocab=300, n_ctx=40, d_model=24, n_heads=3, n_layers=8, rng=0)
    assert (gpt.vocab, gpt.n_ctx, gpt.d_model, len(gpt.blocks)) == (300, 40, 24, 8)
    assert gpt.wte.shape == (300, 24) and gpt.wpe.shape == (40, 24)
    assert np.array_equal(gpt.ln_f_w, np.ones(24)) and not gpt.ln_f_b.any()
    assert abs(gpt.wte.std() - 0.02) < 0.001 and abs(gpt.wte.mean()) < 0.001
    assert abs(gpt.wpe.std() - 0.02) < 0.002
    weights = {name: np.concatenate([getattr(b.attn, name).ravel() for b in gpt.blocks]) for name in MHA_FIELDS[:4]}
    for name in ("w_1", "w_2"):
        weights[name] = np.concatenate([getattr(b, name).ravel() for b in gpt.blocks])
    residual = 0.02 / np.sqrt(2 * 8)  # the projections that end on the residual stream
    for name, std in {"w_q": 0.02, "w_k": 0.02, "w_v": 0.02, "w_1": 0.02, "w_o": residual, "w_2": residual}.items():
        assert abs(weights[name].std() / std - 1) < 0.05, name
    for block in gpt.blocks:
        assert block.d_ff == 96 and block.activation == "gelu_tanh" and block.attn.n_heads == 3
        assert np.array_equal(block.ln1_w, np.ones(24)) and np.array_equal(block.ln2_w, np.ones(24))
        assert not any(getattr(block, name).any() for name in ("ln1_b", "ln2_b", "b_1", "b_2"))
        assert not any(getattr(block.attn, name).any() for name in MHA_FIELDS[4:])
    assert GPT.init(5, 4, 6, 2, 1, d_ff=7, rng=1).blocks[0].d_ff == 7


def test_init_is_reproducible_and_blocks_differ():
    a, b = GPT.init(11, 5, 8, 2, 3, rng=2), GPT.init(11, 5, 8, 2, 3, rng=np.random.default_rng(2))
    assert a == b and a != GPT.init(11, 5, 8, 2, 3, rng=3)
    assert a.blocks[0] != a.blocks[1]


def test_frozen_read_only_and_copies():
    wte = np.ones((5, 4))
    gpt = dataclasses.replace(random_gpt(vocab=5, d_model=4), wte=wte)
    wte[0, 0] = 2.0
    assert gpt.wte[0, 0] == 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        gpt.wte = wte
    with pytest.raises(ValueError, match="read-only"):
        gpt.wpe[0, 0] = 1.0
    assert isinstance(gpt.blocks, tuple)
    from_list = dataclasses.replace(gpt, blocks=list(gpt.blocks))
    assert from_list == gpt and isinstance(from_list.blocks, tuple)  # kept as a tuple: no block can be added


def test_arrays_share_one_dtype():
    gpt = dataclasses.replace(random_gpt(), wte=random_gpt().wte.astype(np.float32))
    assert {gpt.wte.dtype, gpt.wpe.dtype, gpt.ln_f_w.dtype} == {np.dtype(np.float64)}


def test_blocks_must_have_the_width_of_wte():
    gpt = random_gpt(d_model=4)
    wider = random_gpt(d_model=6, n_heads=3).blocks[0]
    with pytest.raises(ValueError, match=r"blocks\[1\] must have d_model=4, that of wte; got d_model=6"):
        dataclasses.replace(gpt, blocks=(gpt.blocks[0], wider))


# The forward pass


def test_forward_is_the_formula():
    gpt = random_gpt(vocab=9, n_ctx=7, d_model=6, n_heads=3, n_layers=3, d_ff=11, seed=1)
    tokens = tokens_from(2, 9, 2, 5)
    x = gpt.wte[tokens] + gpt.wpe[:5]
    for block in gpt.blocks:
        x = block(x, causal=True)
    expected = layer_norm(x, gpt.ln_f_w, gpt.ln_f_b) @ gpt.wte.T
    logits = gpt(tokens)
    assert logits.shape == (2, 5, 9)
    np.testing.assert_allclose(logits, expected, rtol=0, atol=1e-12)


def test_each_sequence_of_a_batch_is_its_own():
    gpt = random_gpt(seed=3)
    tokens = tokens_from(4, 7, 3, 2, 6)
    logits = gpt(tokens)
    for i in np.ndindex(3, 2):
        np.testing.assert_allclose(logits[i], gpt(tokens[i]), rtol=0, atol=1e-12)
    np.testing.assert_allclose(gpt(tokens[0, 0, :4]), logits[0, 0, :4], rtol=0, atol=1e-12)


def test_causal_a_later_token_changes_no_earlier_logits():
    gpt = random_gpt(seed=5)
    tokens = tokens_from(6, 7, 6)
    changed = tokens.copy()
    changed[4] = (tokens[4] + 1) % 7
    before, after = gpt(tokens), gpt(changed)
    np.testing.assert_array_equal(before[:4], after[:4])
    assert np.abs(before[4:] - after[4:]).min() > 1e-6


def test_positions_matter():
    gpt = random_gpt(seed=7)
    # the same token at two positions, with nothing before it to tell them apart but wpe
    logits = gpt(np.array([3, 3]))
    assert np.abs(logits[0] - logits[1]).max() > 1e-3
    same = dataclasses.replace(gpt, wpe=np.zeros((6, 4)))(np.array([3, 3]))
    np.testing.assert_allclose(same[0], same[1], rtol=0, atol=1e-12)


def test_the_head_is_tied_to_wte():
    gpt = random_gpt(seed=8)
    tokens = np.array([1, 2, 3])
    wte = gpt.wte.copy()
    wte[5] *= 2  # a word that is not in the input: only the head sees the change
    np.testing.assert_allclose(dataclasses.replace(gpt, wte=wte)(tokens)[:, 5], 2 * gpt(tokens)[:, 5], atol=1e-12)


def test_float32_model_gives_float32_logits():
    gpt = random_gpt(seed=9)
    float32 = dataclasses.replace(
        gpt,
        **{name: getattr(gpt, name).astype(np.float32) for name in ("wte", "wpe", "ln_f_w", "ln_f_b")},
        blocks=tuple(_cast(block, np.float32) for block in gpt.blocks),
    )
    tokens = tokens_from(10, 7, 5)
    logits = float32(tokens)
    assert logits.dtype == np.float32
    np.testing.assert_allclose(logits, gpt(tokens), atol=1e-4)
    loss, grads = float32.loss_and_grads(tokens, tokens)
    assert grads.wte.dtype == np.float32 and grads.blocks[0].w_1.dtype == np.float32


def _cast(block, dtype):
    attn = dataclasses.replace(block.attn, **{name: getattr(block.attn, name).astype(dtype) for name in MHA_FIELDS})
    return dataclasses.replace(block, attn=attn, **{name: getattr(block, name).astype(dtype) for name in BLOCK_FIELDS})


# The loss and its gradients


def cross_entropy(gpt, tokens, targets):
    p = softmax(gpt(tokens))
    return -np.mean(np.log(np.take_along_axis(p, targets[..., None], axis=-1)))


@pytest.mark.parametrize("head_scale", [1.0, 1e3])
def test_loss_is_the_mean_cross_entropy(head_scale):
    """Also for logits in the thousands, whose rows' maxima lie 800 apart here (exp overflows above 709)."""
    gpt = random_gpt(seed=11)
    gpt = dataclasses.replace(gpt, ln_f_w=gpt.ln_f_w * head_scale, ln_f_b=gpt.ln_f_b * head_scale)
    tokens, targets = tokens_from(12, 7, 3, 5), tokens_from(13, 7, 3, 5)
    loss, _ = gpt.loss_and_grads(tokens, targets)
    assert isinstance(loss, float)
    logits = gpt(tokens)  # -log softmax(logits)[target] = log sum exp(logits) - logits[target]
    target_logits = np.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    expected = np.mean(np.logaddexp.reduce(logits, axis=-1) - target_logits)
    assert abs(loss - expected) < 1e-12 * head_scale


def test_loss_of_an_untrained_model_is_about_log_vocab():
    gpt = GPT.init(vocab=50, n_ctx=8, d_model=16, n_heads=4, n_layers=2, rng=14)
    tokens, targets = tokens_from(15, 50, 4, 8), tokens_from(16, 50, 4, 8)
    assert abs(gpt.loss_and_grads(tokens, targets)[0] - np.log(50)) < 0.05


def arrays(model, path=()):
    """Every array of a GPT (or a block, or an attention), as (path, array)."""
    for field in dataclasses.fields(model):
        value = getattr(model, field.name)
        if isinstance(value, np.ndarray):
            yield (*path, field.name), value
        elif isinstance(value, tuple):
            for i, block in enumerate(value):
                yield from arrays(block, (*path, field.name, i))
        elif dataclasses.is_dataclass(value):
            yield from arrays(value, (*path, field.name))


def get(model, path):
    for key in path:
        model = model[key] if isinstance(key, int) else getattr(model, key)
    return model


def replaced(model, path, value):
    """``model`` with the array at ``path`` replaced by ``value``."""
    key, rest = path[0], path[1:]
    if isinstance(key, int):
        return tuple(replaced(m, rest, value) if i == key else m for i, m in enumerate(model))
    return dataclasses.replace(model, **{key: value if not rest else replaced(getattr(model, key), rest, value)})


@pytest.mark.parametrize(
    "sizes, shape, activation",
    [
        ({"vocab": 7, "n_ctx": 6, "d_model": 4, "n_heads": 2, "n_layers": 2, "d_ff": 5}, (2, 5), "gelu_tanh"),
        ({"vocab": 5, "n_ctx": 4, "d_model": 6, "n_heads": 3, "n_layers": 1, "d_ff": 3}, (4,), "gelu"),
        ({"vocab": 9, "n_ctx": 3, "d_model": 2, "n_heads": 1, "n_layers": 3, "d_ff": 4}, (2, 1, 3), "relu"),
    ],
)
def test_gradients_match_finite_differences(sizes, shape, activation):
    gpt = random_gpt(**sizes, seed=sum(shape), activation=activation)
    tokens, targets = tokens_from(16, sizes["vocab"], *shape), tokens_from(17, sizes["vocab"], *shape)
    _, grads = gpt.loss_and_grads(tokens, targets)
    eps = 1e-6
    for path, value in arrays(gpt):
        numerical = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            step = np.zeros_like(value)
            step[i] = eps
            up = cross_entropy(replaced(gpt, path, value + step), tokens, targets)
            down = cross_entropy(replaced(gpt, path, value - step), tokens, targets)
            numerical[i] = (up - down) / (2 * eps)
        ours = get(grads, path)
        assert ours.shape == value.shape, path
        np.testing.assert_allclose(ours, numerical, rtol=0, atol=1e-8, err_msg=str(path))


def test_the_tied_wte_gets_the_head_and_the_embedding_gradient():
    gpt = random_gpt(seed=18)
    tokens, targets = np.array([[1, 2, 1]]), np.array([[2, 1, 3]])
    _, grads = gpt.loss_and_grads(tokens, targets)
    # wte[1] is both the embedding of token 1 and the head's row of word 1: change the embedding alone
    eps = 1e-6
    row = np.zeros_like(gpt.wte)
    row[1, 0] = eps
    embedding_only = (
        cross_entropy_with_embedding(gpt, gpt.wte + row, tokens, targets)
        - cross_entropy_with_embedding(gpt, gpt.wte - row, tokens, targets)
    ) / (2 * eps)
    head_only = (
        cross_entropy(dataclasses.replace(gpt, wte=gpt.wte + row), tokens, targets)
        - cross_entropy(dataclasses.replace(gpt, wte=gpt.wte - row), tokens, targets)
    ) / (2 * eps) - embedding_only
    assert abs(embedding_only) > 1e-4 and abs(head_only) > 1e-4  # both parts matter
    assert abs(grads.wte[1, 0] - (embedding_only + head_only)) < 1e-8


def cross_entropy_with_embedding(gpt, embedding, tokens, targets):
    """The loss when the input embedding is ``embedding`` but the head stays ``gpt.wte``."""
    x = embedding[tokens] + gpt.wpe[: tokens.shape[-1]]
    for block in gpt.blocks:
        x = block(x, causal=True)
    p = softmax(layer_norm(x, gpt.ln_f_w, gpt.ln_f_b) @ gpt.wte.T)
    return -np.mean(np.log(np.take_along_axis(p, targets[..., None], axis=-1)))


def test_positions_beyond_the_tokens_get_no_gradient():
    gpt = random_gpt(n_ctx=6, seed=19)
    _, grads = gpt.loss_and_grads(np.array([[1, 2, 3], [4, 5, 6]]), np.array([[2, 3, 4], [5, 6, 0]]))
    assert not grads.wpe[3:].any() and np.abs(grads.wpe[:3]).min() > 0


def test_batch_gradients_are_the_mean_over_sequences():
    gpt = random_gpt(seed=20)
    tokens, targets = tokens_from(21, 7, 3, 4), tokens_from(22, 7, 3, 4)
    loss, grads = gpt.loss_and_grads(tokens, targets)
    parts = [gpt.loss_and_grads(tokens[i], targets[i]) for i in range(3)]
    assert abs(loss - np.mean([p[0] for p in parts])) < 1e-12
    for path, value in arrays(grads):
        np.testing.assert_allclose(value, np.mean([get(p[1], path) for p in parts], axis=0), atol=1e-12)


# Generating text


def generate_without_cache(gpt, tokens, max_new_tokens, temperature, top_k, rng):
    """What generate gives, recomputing the whole sequence for every new token."""
    for _ in range(max_new_tokens):
        new = _sample(gpt(tokens)[..., -1, :], temperature, top_k, rng)
        tokens = np.concatenate([tokens, new[..., None]], axis=-1)
    return tokens


@pytest.mark.parametrize("temperature, top_k", [(0.0, None), (1.0, None), (0.7, 5)])
def test_the_kv_cache_gives_what_recomputing_gives(temperature, top_k):
    gpt = random_gpt(vocab=13, n_ctx=56, d_model=8, n_heads=2, n_layers=3, d_ff=12, seed=23)
    prompt = tokens_from(24, 13, 2, 6)
    ours = gpt.generate(prompt, 50, temperature=temperature, top_k=top_k, rng=25)
    theirs = generate_without_cache(gpt, prompt, 50, temperature, top_k, np.random.default_rng(25))
    assert ours.shape == (2, 56)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(ours[:, :6], prompt)
    assert len(np.unique(ours[:, 6:])) > 2  # not a constant run, which would hide a wrong cache


def test_greedy_takes_the_most_likely_token():
    gpt = random_gpt(seed=26)
    tokens = gpt.generate(np.array([1, 4]), 3, temperature=0)
    for t in range(2, 5):
        assert tokens[t] == np.argmax(gpt(tokens[:t])[-1])
    # at a temperature of 1000 every token is about as likely: top_k=1 alone makes the draws greedy
    np.testing.assert_array_equal(gpt.generate(np.array([1, 4]), 3, temperature=1e3, top_k=1, rng=0), tokens)


def test_a_confident_model_samples_its_greedy_tokens():
    """Logits in the thousands, the likeliest token 60 or more above the next in every row and
    the rows' maxima thousands apart: at temperature 1 each row's softmax, taken from its own
    maximum, is all but one-hot; so it is at a temperature of 1e-308, where logits / temperature
    overflow."""
    gpt = random_gpt(seed=26)
    gpt = dataclasses.replace(gpt, ln_f_w=gpt.ln_f_w * 1e3, ln_f_b=gpt.ln_f_b * 1e3)
    prompts = tokens_from(27, 7, 3, 2)
    greedy = gpt.generate(prompts, 3, temperature=0)
    top_two = np.sort(gpt(greedy), axis=-1)[..., -2:]
    assert (top_two[..., 1] - top_two[..., 0]).min() > 60 and np.ptp(top_two[..., 1]) > 1000
    for temperature in (1.0, 1e-308):
        np.testing.assert_array_equal(gpt.generate(prompts, 3, temperature=temperature, rng=0), greedy)


def test_sampling_is_reproducible_with_a_seed_and_varies_without():
    gpt = random_gpt(vocab=11, n_ctx=30, seed=27)
    first = gpt.generate(np.array([0]), 29, rng=28)
    np.testing.assert_array_equal(first, gpt.generate(np.array([0]), 29, rng=np.random.default_rng(28)))
    np.testing.assert_array_equal(first, gpt.generate(np.array([0]), 29, temperature=1.0, rng=28))  # the default
    assert not np.array_equal(first, gpt.generate(np.array([0]), 29, rng=29))


def test_sample_draws_from_the_softmax_at_the_temperature_among_the_top_k():
    logits = np.log(np.array([0.1, 0.2, 0.3, 0.4]))
    rng = np.random.default_rng(30)
    draws = 40_000
    cases = [
        (1.0, None, [0.1, 0.2, 0.3, 0.4]),
        (0.5, None, np.array([0.01, 0.04, 0.09, 0.16]) / 0.3),  # p ** 2, normalised
        (1.0, 2, [0.0, 0.0, 3 / 7, 4 / 7]),
        (1e-300, None, [0.0, 0.0, 0.0, 1.0]),  # a tiny temperature: greedy, without overflow
    ]
    for temperature, top_k, expected in cases:
        tokens = _sample(np.broadcast_to(logits, (draws, 4)), temperature, top_k, rng)
        counts = np.bincount(tokens, minlength=4) / draws
        np.testing.assert_allclose(counts, expected, atol=0.01, err_msg=f"{temperature}, {top_k}")
        assert counts[np.array(expected) == 0].sum() == 0


def test_generate_keeps_batch_axes():
    gpt = random_gpt(seed=31)
    prompts = tokens_from(32, 7, 2, 3, 2)
    out = gpt.generate(prompts, 4, temperature=0)
    assert out.shape == (2, 3, 6) and out.dtype.kind == "i"
    np.testing.assert_array_equal(out[1, 2], gpt.generate(prompts[1, 2], 4, temperature=0))


# Bad input


def test_overflow_names_the_model():
    gpt = random_gpt(seed=33)
    huge = dataclasses.replace(gpt, wte=gpt.wte * 1e160, ln_f_w=gpt.ln_f_w * 1e160)
    message = r"overflowed float64 .* got \|wte\| up to .* and \|ln_f_w\| up to .*: rescale wte or ln_f_w$"
    with pytest.raises(ValueError, match="^GPT " + message):
        huge(np.array([1, 2]))
    with pytest.raises(ValueError, match="^GPT.generate " + message):
        huge.generate(np.array([1, 2]), 2)
    with pytest.raises(ValueError, match=r"^GPT.loss_and_grads overflowed float64"):
        huge.loss_and_grads(np.array([1, 2]), np.array([2, 3]))


# Reading Hugging Face's files (against transformers itself: test_torch_gpt.py)


def save_gpt2(gpt, folder, config=(), arrays=()):
    """Write ``gpt`` as GPT2LMHeadModel.save_pretrained would, with ``config`` and ``arrays`` changed."""
    from safetensors.numpy import save_file

    block = gpt.blocks[0]
    settings = {
        "model_type": "gpt2",
        "vocab_size": gpt.vocab,
        "n_positions": gpt.n_ctx,
        "n_embd": gpt.d_model,
        "n_head": block.attn.n_heads,
        "n_layer": len(gpt.blocks),
        "n_inner": block.d_ff,
        "activation_function": {"gelu_tanh": "gelu_new"}.get(block.activation, block.activation),
        "layer_norm_epsilon": 1e-5,
    }
    named = {"wte.weight": gpt.wte, "wpe.weight": gpt.wpe, "ln_f.weight": gpt.ln_f_w, "ln_f.bias": gpt.ln_f_b}
    for i, b in enumerate(gpt.blocks):
        a = b.attn
        named |= {
            f"h.{i}.attn.c_attn.weight": np.concatenate([a.w_q, a.w_k, a.w_v], axis=1),
            f"h.{i}.attn.c_attn.bias": np.concatenate([a.b_q, a.b_k, a.b_v]),
            f"h.{i}.attn.c_proj.weight": a.w_o,
            f"h.{i}.attn.c_proj.bias": a.b_o,
            f"h.{i}.ln_1.weight": b.ln1_w,
            f"h.{i}.ln_1.bias": b.ln1_b,
            f"h.{i}.ln_2.weight": b.ln2_w,
            f"h.{i}.ln_2.bias": b.ln2_b,
            f"h.{i}.mlp.c_fc.weight": b.w_1,
            f"h.{i}.mlp.c_fc.bias": b.b_1,
            f"h.{i}.mlp.c_proj.weight": b.w_2,
            f"h.{i}.mlp.c_proj.bias": b.b_2,
        }
    named = {"transformer." + name: value for name, value in named.items()} | dict(arrays)
    (folder / "config.json").write_text(json.dumps(settings | dict(config)))
    save_file(
        {name: np.ascontiguousarray(value) for name, value in named.items() if value is not None},
        folder / "model.safetensors",
    )
    return folder


def test_from_pretrained_reads_what_save_pretrained_writes(tmp_path):
    pytest.importorskip("safetensors", reason="pip install selfattn[gpt2]")
    for activation in ("gelu_tanh", "gelu", "relu"):
        gpt = random_gpt(vocab=9, n_ctx=5, d_model=6, n_heads=3, n_layers=2, d_ff=7, seed=40, activation=activation)
        folder = tmp_path / activation
        folder.mkdir()
        assert GPT.from_pretrained(save_gpt2(gpt, folder)) == gpt
        assert GPT.from_pretrained(str(folder)) == gpt


def test_from_pretrained_takes_transformers_defaults(tmp_path):
    """A config.json without activation_function and with n_inner null means gelu_new and d_ff = 4 n_embd."""
    pytest.importorskip("safetensors", reason="pip install selfattn[gpt2]")
    gpt = random_gpt(d_model=4, d_ff=16, seed=42)  # activation gelu_tanh, transformers' gelu_new
    save_gpt2(gpt, tmp_path, {"n_inner": None})
    config = json.loads((tmp_path / "config.json").read_text())
    del config["activation_function"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    assert GPT.from_pretrained(tmp_path) == gpt


def test_from_pretrained_keeps_the_files_dtype_and_reads_the_hub_s_names(tmp_path):
    pytest.importorskip("safetensors", reason="pip install selfattn[gpt2]")
    gpt = _cast_gpt(random_gpt(seed=41), np.float32)
    save_gpt2(gpt, tmp_path)
    loaded = GPT.from_pretrained(tmp_path)
    assert loaded == gpt and loaded.wte.dtype == np.float32 and loaded.blocks[0].w_1.dtype == np.float32
    # OpenAI's GPT-2 on the Hub: no "transformer." prefix, the causal mask saved as h.i.attn.bias
    from safetensors.numpy import load_file, save_file

    arrays = {name.removeprefix("transformer."): a for name, a in load_file(tmp_path / "model.safetensors").items()}
    arrays |= {"h.0.attn.bias": np.ones((1, 1, 6, 6), np.float32), "lm_head.weight": gpt.wte}
    save_file(arrays, tmp_path / "model.safetensors")
    assert GPT.from_pretrained(tmp_path) == gpt
    del arrays["h.1.ln_2.bias"]  # an error names the array as the file does
    save_file(arrays, tmp_path / "model.safetensors")
    with pytest.raises(ValueError, match=r"^model.safetensors must hold h.1.ln_2.bias \(config.json has n_layer=2\)"):
        GPT.from_pretrained(tmp_path)


def _cast_gpt(gpt, dtype):
    arrays = {name: getattr(gpt, name).astype(dtype) for name in ("wte", "wpe", "ln_f_w", "ln_f_b")}
    return dataclasses.replace(gpt, blocks=tuple(_cast(b, dtype) for b in gpt.blocks), **arrays)


@pytest.mark.parametrize(
    "config, arrays, message",
    [
        ({"model_type": "llama"}, {}, r"config.json must be GPT-2's \(model_type 'gpt2'\); got model_type 'llama'"),
        ({"activation_function": "silu"}, {}, r"activation_function must be one of 'gelu_new', .*; got 'silu'"),
        (
            {"layer_norm_epsilon": 1e-6},
            {},
            r"config.json must have layer_norm_epsilon = 1e-05, as GPT computes; got 1e-06",
        ),
        ({"tie_word_embeddings": False}, {}, r"must have tie_word_embeddings = True, as GPT computes; got False"),
        ({"n_embd": None}, {}, r"config.json must give n_embd as a positive int; got None"),
        ({"n_layer": "2"}, {}, r"config.json must give n_layer as a positive int; got '2'"),
        (
            {},
            {"transformer.h.1.mlp.c_fc.weight": np.ones((4, 6))},
            r"^transformer.h.1.mlp.c_fc.weight in model.safetensors must have shape \(4, 5\) "
            r"\(vocab_size=7, n_positions=6, n_embd=4, d_ff=5 in config.json\); got shape \(4, 6\)$",
        ),
        ({}, {"transformer.wte.weight": np.ones((8, 4))}, r"wte.weight in model.safetensors must have shape \(7, 4\)"),
        (
            {},
            {"transformer.h.0.ln_2.bias": None},
            r"model.safetensors must hold transformer.h.0.ln_2.bias \(config.json has n_layer=2\); it does not",
        ),
        (
            {"n_layer": 1},
            {},
            r"must hold only what config.json describes; got also transformer.h.1.attn.c_attn.bias, transformer.h.1",
        ),
        (
            {},
            {"lm_head.weight": np.ones((7, 4))},
            r"^lm_head.weight in model.safetensors must equal wte.weight \(GPT-2's head is tied\); it does not$",
        ),
    ],
)
def test_from_pretrained_names_what_is_wrong_in_the_files(config, arrays, message, tmp_path):
    pytest.importorskip("safetensors", reason="pip install selfattn[gpt2]")
    save_gpt2(random_gpt(), tmp_path, config, arrays)
    with pytest.raises(ValueError, match=message):
        GPT.from_pretrained(tmp_path)


CONFIG = {"model_type": "gpt2", "vocab_size": 7, "n_positions": 6, "n_embd": 4, "n_head": 2, "n_layer": 2}


def test_from_pretrained_names_the_missing_file(tmp_path):
    with pytest.raises(
        ValueError, match=r"path must be a folder written by GPT2LMHeadModel.save_pretrained .* no config"
    ):
        GPT.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    with pytest.raises(ValueError, match=f"{re.escape(str(tmp_path))} has no model.safetensors"):
        GPT.from_pretrained(tmp_path)


def test_from_pretrained_without_safetensors_says_how_to_install_it(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text(json.dumps(CONFIG))
    (tmp_path / "model.safetensors").write_bytes(b"")
    monkeypatch.setitem(sys.modules, "safetensors", None)  # import safetensors fails, as when not installed
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(
        ImportError, match=r"^GPT.from_pretrained reads .* the safetensors package: pip install selfattn\[gpt2\]$"
    ):
        GPT.from_pretrained(tmp_path)
