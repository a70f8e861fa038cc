"""GPT: GPT-2's language model, from tokens to next-token logits, its gradients, and writing text."""

import math
from dataclasses import dataclass, replace

import numpy as np

from ._checks import as_array, generator, head_size, overflow_checked, positive_int, real_number
from ._frozen import Frozen
from .gradients import _weight_gradient
from .multihead import MultiHeadAttention
from .normalise import _layer_norm, _softmax
from .pretrained import read_gpt2
from .transformer import LAYER_NORM_EPS, TransformerBlock, _layer_norm_backward

# name -> axes; d_model, vocab and n_ctx come from wte and wpe
SHAPES = {"wte": ("vocab", "d_model"), "wpe": ("n_ctx", "d_model"), "ln_f_w": ("d_model",), "ln_f_b": ("d_model",)}


@dataclass(frozen=True, kw_only=True, eq=False)
class GPT(Frozen):
    """GPT-2's language model: token and position embeddings, causal blocks, a tied head.

    ``x = wte[tokens] + wpe[:n]``, then each block in turn, ``x = block(x, causal=True)``,
    then ``logits = layer_norm(x, ln_f_w, ln_f_b) @ wte.T``: the scores of every word of
    the vocabulary as the token after each position. The output head is ``wte`` itself
    (tied), as in GPT-2, whose blocks use ``activation="gelu_tanh"``. This is Hugging
    Face transformers' ``GPT2LMHeadModel`` without dropout.

    Built from keyword arguments and checked once, at construction; then frozen, its
    arrays read-only copies in their common float dtype, like `TransformerBlock`. Two
    models are equal (``==``) when their blocks and all their arrays are equal.

    Attributes
    ----------
    wte : ndarray, shape (vocab, d_model)
        The token embeddings, and the output head.
    wpe : ndarray, shape (n_ctx, d_model)
        The position embeddings: ``n_ctx`` is the longest sequence the model reads.
    blocks : tuple of TransformerBlock
        ``n_layers`` blocks of width ``d_model``, applied in order.
    ln_f_w, ln_f_b : ndarray, shape (d_model,)
        The weight and bias of the final layer norm.

    Examples
    --------
    >>> import numpy as np
    >>> from selfattn import GPT
    >>> gpt = GPT.init(vocab=10, n_ctx=16, d_model=8, n_heads=2, n_layers=3, rng=0)
    >>> tokens = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])  # 2 sequences of 4 tokens
    >>> print(gpt(tokens).shape)  # (..., n, vocab)
    (2, 4, 10)
    >>> loss, grads = gpt.loss_and_grads(tokens[:, :-1], tokens[:, 1:])
    >>> print(round(loss, 1), round(float(np.log(10)), 1))  # untrained: about log(vocab)
    2.3 2.3
    >>> print(grads.wte.shape, len(grads.blocks))
    (10, 8) 3
    >>> print(gpt.generate(tokens, 5, temperature=0).shape)
    (2, 9)
    """

    wte: np.ndarray
    wpe: np.ndarray
    blocks: tuple
    ln_f_w: np.ndarray
    ln_f_b: np.ndarray

    def __post_init__(self):
        blocks = tuple(self.blocks) if isinstance(self.blocks, (tuple, list)) else None
        if not blocks or not all(isinstance(block, TransformerBlock) for block in blocks):
            raise TypeError(f"blocks must be a non-empty tuple of TransformerBlock; got {self.blocks!r:.80}")
        object.__setattr__(self, "blocks", blocks)
        d_model = self._freeze(SHAPES)["d_model"]
        for i, block in enumerate(blocks):
            if block.d_model != d_model:
                raise ValueError(f"blocks[{i}] must have d_model={d_model}, that of wte; got d_model={block.d_model}")

    @classmethod
    def init(cls, vocab, n_ctx, d_model, n_heads, n_layers, *, d_ff=None, rng):
        """GPT-2's starting point: random weights of standard deviation 0.02, biases at zero.

        Parameters
        ----------
        vocab : int
            The number of distinct tokens.
        n_ctx : int
            The longest sequence the model reads (GPT-2: 1024).
        d_model : int
            Width of the model; must be divisible by ``n_heads``.
        n_heads : int
        n_layers : int
            The number of blocks.
        d_ff : int, optional
            Width of the MLPs' hidden layer; ``4 * d_model`` by default, as in GPT-2.
        rng : int or numpy.random.Generator
            Seed (a non-negative int) or generator for the weights.

        Returns
        -------
        GPT
            Every weight and embedding drawn from a normal distribution of standard
            deviation 0.02, except those of the two projections that end on the residual
            stream in each block (``attn.w_o`` and ``w_2``), scaled down by
            ``1 / sqrt(2 * n_layers)`` so that the stream's variance does not grow with
            depth; every bias zeros, every layer norm the identity (weights ones);
            ``activation="gelu_tanh"``. As Hugging Face's ``GPT2LMHeadModel`` starts.
        """
        sizes = {"vocab": vocab, "n_ctx": n_ctx, "d_model": d_model, "n_heads": n_heads, "n_layers": n_layers}
        vocab, n_ctx, d_model, n_heads, n_layers = (positive_int(value, name) for name, value in sizes.items())
        d_ff = 4 * d_model if d_ff is None else positive_int(d_ff, "d_ff")
        head_size(d_model, n_heads)  # before drawing any weights
        rng = generator(rng)
        std, residual_std = 0.02, 0.02 / math.sqrt(2 * n_layers)
        ones, zeros = np.ones(d_model), np.zeros(d_model)
        wte, wpe = rng.normal(scale=std, size=(vocab, d_model)), rng.normal(scale=std, size=(n_ctx, d_model))
        blocks = []
        for _ in range(n_layers):
            w_q, w_k, w_v = rng.normal(scale=std, size=(3, d_model, d_model))
            w_o = rng.normal(scale=residual_std, size=(d_model, d_model))
            attn = MultiHeadAttention(
                n_heads=n_heads, w_q=w_q, w_k=w_k, w_v=w_v, w_o=w_o, b_q=zeros, b_k=zeros, b_v=zeros, b_o=zeros
            )
            blocks.append(
                TransformerBlock(
                    attn=attn,
                    ln1_w=ones,
                    ln1_b=zeros,
                    ln2_w=ones,
                    ln2_b=zeros,
                    w_1=rng.normal(scale=std, size=(d_model, d_ff)),
                    b_1=np.zeros(d_ff),
                    w_2=rng.normal(scale=residual_std, size=(d_ff, d_model)),
                    b_2=zeros,
                    activation="gelu_tanh",
                )
            )
        return cls(wte=wte, wpe=wpe, blocks=tuple(blocks), ln_f_w=ones, ln_f_b=zeros)

    @classmethod
    def from_pretrained(cls, path):
        """GPT-2 from a folder written by Hugging Face transformers' ``save_pretrained``.

        Reads ``config.json`` and ``model.safetensors`` as ``GPT2LMHeadModel.save_pretrained``
        writes them, with the ``safetensors`` package (``pip install selfattn[gpt2]``).
        With internet, transformers' ``GPT2LMHeadModel.from_pretrained`` fetches OpenAI's
        GPT-2 (``"openai-community/gpt2"``), and its ``save_pretrained`` writes such a folder.

        Parameters
        ----------
        path : str or os.PathLike
            The folder.

        Returns
        -------
        GPT
            The model of the files, its arrays in their dtype (float32 for GPT-2's), its
            blocks' activation the config's (GPT-2's ``gelu_new`` is ``"gelu_tanh"``).

        Raises
        ------
        ImportError
            If the ``safetensors`` package is not installed.
        ValueError
            If a file is missing, the config is not GPT-2's (or asks for what this model
            does not compute, such as another layer norm epsilon), or an array is missing,
            extra or of a shape the config does not give it: the message names it.
        """
        return cls(**read_gpt2(path))

    @property
    def vocab(self):
        """The number of distinct tokens: the last axis of the logits."""
        return self.wte.shape[0]

    @property
    def n_ctx(self):
        """The longest sequence the model reads."""
        return self.wpe.shape[0]

    @property
    def d_model(self):
        """Width of the model."""
        return self.wte.shape[1]

    def __call__(self, tokens):
        """The logits of the next token after each position of each sequence.

        Parameters
        ----------
        tokens : array_like of int, shape (..., n)
            Token ids in ``0..vocab - 1``; ``n <= n_ctx``.

        Returns
        -------
        ndarray, shape (..., n, vocab)
            Row ``i`` scores each word of the vocabulary as the token after ``tokens[..., i]``,
            from tokens ``0..i`` only (causal): ``softmax`` of it gives the probabilities.
        """
        tokens = self._tokens(tokens, "tokens")
        return overflow_checked("GPT", self._rescale, self._forward, tokens)[0]

    def loss_and_grads(self, tokens, targets):
        """The mean cross-entropy of the next-token predictions, and its gradients.

        Parameters
        ----------
        tokens : array_like of int, shape (..., n)
            Token ids in ``0..vocab - 1``; ``n <= n_ctx``.
        targets : array_like of int, shape (..., n)
            The token that should come after each of ``tokens``: for a text ``t``,
            ``tokens = t[:-1]`` and ``targets = t[1:]``.

        Returns
        -------
        loss : float
            ``-mean(log softmax(self(tokens))[..., i, targets[..., i]])``, over every
            position of every sequence.
        grads : GPT
            The gradient of ``loss`` with respect to each array, in the field of that array
            (``grads.blocks`` one `TransformerBlock` of gradients per block). ``grads.wte``
            sums both of the tied ``wte``'s contributions: as the head and as the embedding.
        """
        tokens = self._tokens(tokens, "tokens")
        targets = self._tokens(targets, "targets")
        if targets.shape != tokens.shape:
            raise ValueError(f"targets must have the shape of tokens {tokens.shape}; got shape {targets.shape}")
        loss, grads, _ = overflow_checked("GPT.loss_and_grads", self._rescale, self._loss_and_grads, tokens, targets)
        blocks = tuple(block._replaced(g) for block, g in zip(self.blocks, grads.pop("blocks"), strict=True))
        return float(loss), replace(self, blocks=blocks, **grads)

    def generate(self, tokens, max_new_tokens, *, temperature=1.0, top_k=None, rng=None):
        """Continue each sequence by ``max_new_tokens`` tokens, one at a time.

        Each new token is drawn from ``softmax(logits / temperature)`` of the last
        position, among the ``top_k`` most likely tokens, then appended. Decoding keeps
        every block's keys and values (a KV cache), so each step runs the model on the new
        token only; the result is what running it on the whole sequence at each step gives.

        Parameters
        ----------
        tokens : array_like of int, shape (..., n)
            The prompts: token ids in ``0..vocab - 1``.
        max_new_tokens : int
            How many tokens to add; ``n + max_new_tokens <= n_ctx``.
        temperature : float, default 1.0
            Divides the logits: below 1 the likely tokens get likelier, above 1 less so.
            0 takes the most likely token every time (greedy decoding; ``rng`` is unused).
        top_k : int, optional
            Draw among the ``top_k`` most likely tokens only (and those tied with the
            last of them); ``None`` for all of them.
        rng : None, int or numpy.random.Generator
            Seed (a non-negative int) or generator for the draws.

        Returns
        -------
        ndarray of int, shape (..., n + max_new_tokens)
            The prompts followed by the new tokens.
        """
        tokens = self._tokens(tokens, "tokens")
        max_new_tokens = positive_int(max_new_tokens, "max_new_tokens")
        if tokens.shape[-1] + max_new_tokens > self.n_ctx:
            raise ValueError(
                f"tokens and max_new_tokens must fit in n_ctx={self.n_ctx} positions; "
                f"got n={tokens.shape[-1]} tokens and max_new_tokens={max_new_tokens}"
            )
        temperature = real_number(temperature, "temperature")
        if temperature < 0:
            raise ValueError(f"temperature must be 0 (greedy) or positive; got {temperature}")
        if top_k is not None and positive_int(top_k, "top_k") > self.vocab:
            raise ValueError(f"top_k must be in 1..vocab={self.vocab}, or None; got {top_k}")
        args = tokens, max_new_tokens, temperature, top_k, generator(rng)
        return overflow_checked("GPT.generate", self._rescale, self._generate, *args)[0]

    def _tokens(self, tokens, name):
        """``tokens`` as an int array of shape (..., n), n <= n_ctx, of ids in ``0..vocab - 1``."""
        tokens = as_array(tokens, name)
        if tokens.dtype.kind not in ("i", "u"):
            raise TypeError(f"{name} must be an array of int token ids; got dtype {tokens.dtype}")
        if tokens.ndim == 0 or tokens.size == 0:
            raise ValueError(f"{name} must have shape (..., n) with at least one token; got shape {tokens.shape}")
        if tokens.shape[-1] > self.n_ctx:
            raise ValueError(f"{name} must have n <= n_ctx={self.n_ctx} (shape (..., n)); got shape {tokens.shape}")
        bad = (tokens < 0) | (tokens >= self.vocab)
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{name} must be in 0..vocab-1 = 0..{self.vocab - 1}; got {tokens[where]} at index {where}"
            )
        return tokens

    @property
    def _rescale(self):
        """The arrays an overflow's message names: the head's."""
        return {"wte": self.wte, "ln_f_w": self.ln_f_w}

    def _forward(self, tokens, caches=None):
        """The logits of ``tokens`` and what the backward pass needs, from checked arrays.

        With ``caches`` (one `_KVCache` per block), ``tokens`` come after those whose keys
        and values the caches hold, and theirs are added.
        """
        start = 0 if caches is None else caches[0].length
        n = tokens.shape[-1]
        x = self.wte[tokens] + self.wpe[start : start + n]
        newest_last = np.tri(n, start + n, start, dtype=bool)  # causal: token i sees 0..start + i
        inputs, saved = [], []  # each block's input, and what it saved (checked for overflow too)
        for block, cache in zip(self.blocks, caches or [None] * len(self.blocks), strict=True):
            inputs.append(x)
            x, block_saved = block._forward(x, newest_last, cache)
            saved.append(block_saved)
        y, ln_f = _layer_norm(x, self.ln_f_w, self.ln_f_b, LAYER_NORM_EPS)
        return y @ self.wte.T, (inputs, newest_last, y, ln_f, saved)

    def _loss_and_grads(self, tokens, targets):
        """``(loss, grads)`` from checked arrays: the forward pass, then the chain rule backwards."""
        logits, (inputs, causal, y, ln_f, saved) = self._forward(tokens)
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_p = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))  # log softmax
        loss = -np.take_along_axis(log_p, targets[..., None], axis=-1).mean()
        d_logits = (np.exp(log_p) - (np.arange(self.vocab) == targets[..., None])) / targets.size
        d_x, d_ln_f_w, d_ln_f_b = _layer_norm_backward(d_logits @ self.wte, *ln_f, self.ln_f_w)
        block_grads, statistics = [], []  # the statistics of the blocks' layer norms: checked for overflow too
        for block, x, block_saved in zip(self.blocks[::-1], inputs[::-1], saved[::-1], strict=True):
            d_x, grads, stats = block._backward(x, d_x, causal, block_saved)
            block_grads.insert(0, grads)
            statistics.append(stats)
        d_wte = _weight_gradient(d_logits, y)  # the head (logits = y @ wte.T) ...
        np.add.at(d_wte, tokens, d_x)  # ... and the embedding
        d_wpe = np.zeros_like(self.wpe)
        d_wpe[: tokens.shape[-1]] = d_x.reshape(-1, *d_x.shape[-2:]).sum(axis=0)
        grads = {"wte": d_wte, "wpe": d_wpe, "blocks": block_grads, "ln_f_w": d_ln_f_w, "ln_f_b": d_ln_f_b}
        return loss, grads, statistics

    def _generate(self, tokens, max_new_tokens, temperature, top_k, rng):
        """The prompts with their new tokens, and each step's forward pass (for the overflow check)."""
        caches = [_KVCache() for _ in self.blocks]
        new, steps = tokens, []
        for _ in range(max_new_tokens):
            steps.append(self._forward(new, caches))
            new = _sample(steps[-1][0][..., -1, :], temperature, top_k, rng)[..., None]
            tokens = np.concatenate([tokens, new], axis=-1)
        return tokens, steps


class _KVCache:
    """The keys and values of one attention for the tokens so far: (..., n_heads, length, d_head) each."""

    def __init__(self):
        self.k = self.v = None

    @property
    def length(self):
        return 0 if self.k is None else self.k.shape[-2]

    def append(self, k, v):
        """Add the new tokens' keys and values; return all of them so far."""
        if self.k is not None:
            k, v = np.concatenate([self.k, k], axis=-2), np.concatenate([self.v, v], axis=-2)
        self.k, self.v = k, v
        return k, v


def _sample(logits, temperature, top_k, rng):
    """One token per row of ``logits`` (..., vocab): the likeliest, or a draw from their softmax."""
    if temperature == 0:
        return logits.argmax(axis=-1)
    keep = None if top_k is None else logits >= np.sort(logits, axis=-1)[..., -top_k, None]
    p = _softmax((logits - logits.max(axis=-1, keepdims=True)) / temperature, keep)  # tiny temperature: -inf, p 0
    cumulative = p.cumsum(axis=-1)
    u = rng.random(size=(*p.shape[:-1], 1)) * cumulative[..., -1:]  # in [0, total)
    return (cumulative <= u).sum(axis=-1)  # the first token whose cumulative probability exceeds u
