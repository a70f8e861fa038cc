"""GPT equals Hugging Face transformers' GPT2LMHeadModel (5.23, on PyTorch 2.13) in float64.

Each test builds a random GPT-2 with transformers itself (``GPT2LMHeadModel(GPT2Config(...))``:
nothing is downloaded), moves every array off its starting value (no unit weight or zero bias
that could hide a mix-up), writes it with ``save_pretrained`` and reads it with
``GPT.from_pretrained``. Then: the logits to 1e-10; every gradient of ``loss_and_grads`` to
autograd's of the same mean cross-entropy, to 1e-10 (the tied ``wte`` included); greedy
``generate`` to ``generate(do_sample=False)``, token for token (without stopping at the
end-of-text token, as ``generate`` does not).
"""

import numpy as np
import pytest

from selfattn import GPT
from selfattn.pretrained import gpt2_fields

pytestmark = pytest.mark.xdist_group("torch")  # one worker imports PyTorch, once
torch = transformers = None  # imported when these tests run, not when pytest collects them
TOLERANCE = 1e-10


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    global torch, transformers
    torch = pytest.importorskip(
        "torch", reason="PyTorch not installed: pip install torch==2.13.0 (CI installs it and fails on a skip)"
    )
    transformers = pytest.importorskip(
        "transformers",
        reason="transformers not installed: pip install transformers==5.23.0 (CI installs it and fails on a skip)",
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# vocab, n_ctx, d_model, n_heads, n_layers, d_ff (None: GPT-2's 4 * d_model), activation
SHAPES = [
    (11, 9, 6, 2, 2, None, "gelu_new"),
    (17, 12, 12, 3, 3, 10, "gelu_new"),
    (7, 5, 4, 1, 1, 9, "gelu"),
]
IDS = ["two-layers", "three-layers-n_inner", "one-layer-gelu"]


def random_gpt2(vocab, n_ctx, d_model, n_heads, n_layers, d_ff, activation, dtype=None):
    """A GPT2LMHeadModel with every parameter random; end-of-text, start and padding ids in the vocabulary."""
    config = transformers.GPT2Config(
        vocab_size=vocab,
        n_positions=n_ctx,
        n_embd=d_model,
        n_head=n_heads,
        n_layer=n_layers,
        n_inner=d_ff,
        activation_function=activation,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    torch.manual_seed(vocab)
    model = transformers.GPT2LMHeadModel(config).to(dtype or torch.float64).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            is_norm_weight = name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight"))
            p.copy_(1 + 0.2 * torch.randn_like(p) if is_norm_weight else 0.5 * torch.randn_like(p))
    return model


def load(model, tmp_path):
    model.save_pretrained(tmp_path)
    return GPT.from_pretrained(tmp_path)


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_logits_equal_gpt2(shape, tmp_path):
    model = random_gpt2(*shape)
    gpt = load(model, tmp_path)
    vocab, n_ctx = shape[:2]
    tokens = np.random.default_rng(vocab).integers(vocab, size=(3, n_ctx))
    with torch.no_grad():
        theirs = model(torch.from_numpy(tokens)).logits.numpy()
    ours = gpt(tokens)
    assert ours.dtype == np.float64 and ours.shape == theirs.shape == (3, n_ctx, vocab)
    assert np.abs(ours - theirs).max() <= TOLERANCE
    assert np.abs(gpt(tokens[0, :3]) - theirs[0, :3]).max() <= TOLERANCE  # shorter, unbatched


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_every_gradient_equals_autograd(shape, tmp_path):
    model = random_gpt2(*shape)
    gpt = load(model, tmp_path)
    vocab, n_ctx = shape[:2]
    rng = np.random.default_rng(vocab + 1)
    tokens, targets = rng.integers(vocab, size=(2, 2, n_ctx - 1))
    loss, grads = gpt.loss_and_grads(tokens, targets)

    logits = model(torch.from_numpy(tokens)).logits
    theirs = torch.nn.functional.cross_entropy(logits.reshape(-1, vocab), torch.from_numpy(targets).reshape(-1))
    theirs.backward()
    assert abs(loss - theirs.item()) <= TOLERANCE
    # autograd's gradients, named as the state dict and read as the arrays of a file are
    autograd = GPT(**gpt2_fields(model.config.to_dict(), {n: p.grad.numpy() for n, p in model.named_parameters()}))
    pairs = list(arrays(grads, autograd))
    assert len(pairs) == 4 + len(gpt.blocks) * 16
    for path, ours, expected in pairs:
        assert ours.shape == expected.shape, path
        assert np.abs(ours - expected).max() <= TOLERANCE, path


def arrays(ours, theirs, path="gpt"):
    """(path, our array, their array) for every array of two GPTs (blocks and attention included)."""
    for name, value in vars(ours).items():
        if isinstance(value, np.ndarray):
            yield f"{path}.{name}", value, getattr(theirs, name)
        elif isinstance(value, tuple):
            for i, (a, b) in enumerate(zip(value, getattr(theirs, name), strict=True)):
                yield from arrays(a, b, f"{path}.{name}[{i}]")
        elif hasattr(value, "__dataclass_fields__"):
            yield from arrays(value, getattr(theirs, name), f"{path}.{name}")


@pytest.mark.parametrize("shape", SHAPES, ids=IDS)
def test_greedy_generate_equals_transformers(shape, tmp_path):
    model = random_gpt2(*shape)
    gpt = load(model, tmp_path)
    vocab, n_ctx = shape[:2]
    prompts = np.random.default_rng(vocab + 2).integers(2, vocab, size=(2, 2))
    ours = gpt.generate(prompts, n_ctx - 2, temperature=0)
    model.generation_config.eos_token_id = None  # write all the tokens asked for, as generate does
    theirs = model.generate(
        torch.from_numpy(prompts),
        attention_mask=torch.ones(2, 2, dtype=torch.long),
        max_new_tokens=n_ctx - 2,
        do_sample=False,
    ).numpy()
    assert theirs.shape == ours.shape == (2, n_ctx)
    np.testing.assert_array_equal(ours, theirs)


def test_a_float32_file_gives_a_float32_model(tmp_path):
    model = random_gpt2(*SHAPES[0], dtype=torch.float32)
    gpt = load(model, tmp_path)
    assert {gpt.wte.dtype, gpt.blocks[1].w_1.dtype, gpt.blocks[0].attn.b_q.dtype} == {np.dtype(np.float32)}
    tokens = np.arange(9)
    with torch.no_grad():
        theirs = model(torch.from_numpy(tokens)[None]).logits.numpy()[0]
    ours = gpt(tokens)
    assert ours.dtype == np.float32
    assert np.abs(ours - theirs).max() <= 1e-4 * np.abs(theirs).max()
