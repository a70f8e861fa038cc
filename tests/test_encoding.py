"""one_hot: tokens to one-hot rows, in first-appearance order or in a given vocabulary."""

import numpy as np
import pytest

from selfattn import one_hot


def test_seed_sentence_is_the_identity():
    encoded = one_hot("Self Attention is good".split())
    np.testing.assert_array_equal(encoded, np.eye(4))
    assert encoded.dtype == np.float64


def test_columns_follow_first_appearance():
    # "b" appears first, so it owns column 0; "a" column 1; "c" column 2.
    encoded = one_hot(["b", "a", "c", "a"])
    expected = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 1, 0]], dtype=float)
    np.testing.assert_array_equal(encoded, expected)


def test_repeated_tokens_share_a_row_pattern():
    tokens = ["to", "be", "or", "not", "to", "be"]
    encoded = one_hot(tokens)
    assert encoded.shape == (6, 4)
    np.testing.assert_array_equal(encoded[0], encoded[4])
    np.testing.assert_array_equal(encoded[1], encoded[5])
    np.testing.assert_array_equal(encoded.sum(axis=1), np.ones(6))
    np.testing.assert_array_equal(encoded.sum(axis=0), [2, 2, 1, 1])


def test_given_vocab_sets_the_column_order_and_width():
    vocab = ["good", "is", "unused", "Attention", "Self", "also unused", "bad"]
    encoded = one_hot("Self Attention is good".split(), vocab=vocab)
    assert encoded.shape == (4, 7)  # V = 7 > n = 4
    assert encoded.dtype == np.float64
    columns = encoded.argmax(axis=1)
    np.testing.assert_array_equal(columns, [4, 3, 1, 0])
    np.testing.assert_array_equal(encoded[:, [2, 5, 6]], np.zeros((4, 3)))
    np.testing.assert_array_equal(encoded.sum(axis=1), np.ones(4))


def test_vocab_may_be_any_sequence_of_hashables():
    encoded = one_hot([3, 1, 3], vocab=(1, 2, 3))
    np.testing.assert_array_equal(encoded, [[0, 0, 1], [1, 0, 0], [0, 0, 1]])


def test_token_missing_from_vocab_is_named():
    with pytest.raises(ValueError, match=r"'bad' is not in vocab \['good', 'is'\]"):
        one_hot(["good", "bad"], vocab=["good", "is"])
