"""The token estimate: its one-pass ASCII count equals the general count, piece for piece."""

import random
import string

import pytest

from models.tokens import count_pieces, estimate_tokens

ASCII = string.ascii_letters + string.digits + string.punctuation + " " * 12 + "\n\t\r\x0b\x0c\x1c\x1f\x00_"


@pytest.mark.parametrize("seed", range(20))
def test_the_ascii_fast_path_counts_as_the_general_one(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        text = "".join(rng.choice(ASCII) for _ in range(rng.randint(0, 300)))
        assert estimate_tokens(text) == count_pieces(text) + len(text) // 200 + 1, repr(text)


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("", 0),
        ("a", 1),
        ("abc", 1),
        ("abcd", 2),
        ("hello world", 4),  # hel lo · wor ld: a single space counts nothing
        ("x  y", 3),  # two spaces count one
        ("line\n\n  next", 5),  # lin e · newline run · nex t
        ("snake_case = 42;", 9),  # sna ke _ cas e = 4 2 ;
        ("北京 is 大", 4),  # each CJK character one, `is` one
    ],
)
def test_pieces_counted(text: str, pieces: int) -> None:
    assert count_pieces(text) == pieces
    assert estimate_tokens(text) == pieces + len(text) // 200 + 1
