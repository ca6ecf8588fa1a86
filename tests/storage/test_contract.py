"""Runs the storage contract against every backend (the ``store`` fixture), plus key-encoding properties."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from storage import decode_key, encode_key
from storage.base import MAX_KEY_CHARS, check_key
from tests.storage.contract import StoreContract

# Every code point, lone surrogates included; plus strings dense in the characters keys may not hold.
any_text = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=300)
nasty_text = st.text(st.sampled_from("/\\#?%\x00\n\x7f\x9f\ud800a~😀"), max_size=700)
texts = any_text | nasty_text


class TestStoreContract(StoreContract):
    """The whole contract, once per backend."""


@settings(database=None)  # pure functions: nothing worth replaying from a stored database
@given(texts)
def test_encode_key_is_always_a_valid_key(text: str) -> None:
    key = encode_key(text)
    check_key(key)
    shortened = len(key) > 64 and key[-65] == "~" and re.fullmatch("[0-9a-f]{64}", key[-64:])
    if not shortened:
        assert decode_key(key) == text


@settings(database=None)  # pure functions: nothing worth replaying from a stored database
@given(any_text)
def test_short_keys_round_trip(text: str) -> None:
    assert decode_key(encode_key(text)) == text


@settings(database=None)  # pure functions: nothing worth replaying from a stored database
@given(texts, texts)
def test_encode_key_is_injective(a: str, b: str) -> None:
    if a != b:
        assert encode_key(a) != encode_key(b)


def test_encode_key_keeps_safe_text_and_shortens_long_text() -> None:
    assert encode_key("plain text, ünïcode 😀") == "plain text, ünïcode 😀"
    assert encode_key("a/b%") == "a%2Fb%25"
    long_a, long_b = encode_key("x" * 1000 + "a"), encode_key("x" * 1000 + "b")
    assert len(long_a) == MAX_KEY_CHARS
    assert long_a != long_b
    check_key(encode_key("😀" * 600))
