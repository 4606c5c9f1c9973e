"""Word-level tokenizer: one token per node plus a few special tokens.

Token ids are laid out so that they can be computed without the tokenizer: the special tokens
take ids ``0 .. NUM_SPECIAL_TOKENS-1`` and node ``v`` is token ``NUM_SPECIAL_TOKENS + v`` whose
string is ``str(v)``. :func:`build_tokenizer` wraps that vocabulary as a
``PreTrainedTokenizerFast`` (``tokenizers`` WordLevel + WhitespaceSplit) that saves with the data
and with trained models.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "SPECIAL_TOKENS",
    "NUM_SPECIAL_TOKENS",
    "PAD",
    "UNK",
    "BOS",
    "EOS",
    "EDGE",
    "PATH",
    "PAUSE",
    "SEP",
    "GOAL",
    "node_token_ids",
    "vocab_strings",
    "join_token_text",
    "build_tokenizer",
]

PAD, UNK, BOS, EOS = "[PAD]", "[UNK]", "[BOS]", "[EOS]"
EDGE, PATH, PAUSE = "[EDGE]", "[PATH]", "[PAUSE]"
SEP, GOAL = "[SEP]", "[GOAL]"  # in-context path-star: edge separator, query marker
SPECIAL_TOKENS: tuple[str, ...] = (PAD, UNK, BOS, EOS, EDGE, PATH, PAUSE, SEP, GOAL)
NUM_SPECIAL_TOKENS = len(SPECIAL_TOKENS)
SPECIAL_TOKEN_IDS = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}


def node_token_ids(nodes: np.ndarray | int) -> np.ndarray | int:
    """Token id of node(s) ``nodes`` (``NUM_SPECIAL_TOKENS + node``)."""
    if isinstance(nodes, int):
        return nodes + NUM_SPECIAL_TOKENS
    return np.asarray(nodes, dtype=np.int64) + NUM_SPECIAL_TOKENS


def vocab_strings(num_nodes: int) -> pa.Array:
    """Arrow string array of the whole vocabulary, indexed by token id."""
    nodes = pa.array(np.arange(num_nodes, dtype=np.int64)).cast(pa.string())
    return pa.concat_arrays([pa.array(list(SPECIAL_TOKENS), pa.string()), nodes])


def join_token_text(vocab: pa.Array, token_ids: np.ndarray, offsets: np.ndarray | None = None
                    ) -> pa.Array:
    """Space-joined text of token sequences, vectorized in Arrow.

    Args:
        vocab: :func:`vocab_strings` of the tokenizer.
        token_ids: ``(N, T)`` token ids (one row per text), or a flat ``(M,)`` array with
            ``offsets``.
        offsets: ``(N+1,)`` row boundaries into a flat ``token_ids``.
    Returns:
        ``pa.StringArray`` of length ``N``.
    """
    ids = np.asarray(token_ids, dtype=np.int64)
    if offsets is None:
        n, t = ids.shape
        offsets = np.arange(n + 1, dtype=np.int64) * t
        ids = ids.ravel()
    words = vocab.take(pa.array(ids))
    lists = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), words)
    return pc.binary_join(lists, " ").cast(pa.string())


def build_tokenizer(num_nodes: int, model_max_length: int = 512):
    """A ``PreTrainedTokenizerFast`` with the special tokens and one token per node ``0..n-1``.

    ``pad``, ``unk``, ``bos`` and ``eos`` are set; no template adds tokens, so encoding a prompt
    returns exactly its words. ``model_max_length`` is set because transformers otherwise
    assumes an effectively infinite length.
    """
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import PreTrainedTokenizerFast

    if num_nodes < 1:
        raise ValueError(f"num_nodes must be >= 1, got {num_nodes}")
    vocab = dict(SPECIAL_TOKEN_IDS)
    vocab.update(zip(map(str, range(num_nodes)), range(NUM_SPECIAL_TOKENS,
                                                        NUM_SPECIAL_TOKENS + num_nodes)))
    tok = Tokenizer(WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = WhitespaceSplit()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=PAD, unk_token=UNK, bos_token=BOS, eos_token=EOS,
        additional_special_tokens=[EDGE, PATH, PAUSE, SEP, GOAL],
        model_max_length=model_max_length,
        padding_side="right",
    )
    return fast
