"""Read user prompt pairs from JSON Lines.

One JSON object per line with fields ``clean`` and ``corrupt`` (lists of token ids, or strings that
a tokenizer turns into ids), ``answer`` and ``wrong`` (a token id, or a string that tokenizes to a
single token). Blank lines and lines starting with ``#`` are skipped. Every problem is reported with
its line number; pairs whose clean and corrupt lengths differ raise naming the pair's index.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ._pairs import PromptPairError, PromptPairs

REQUIRED_FIELDS = ("clean", "corrupt", "answer", "wrong")


def _encoder(tokenizer: Any) -> Callable[[str], list[int]] | None:
    if tokenizer is None:
        return None
    if callable(getattr(tokenizer, "encode", None)):
        def encode(text: str) -> list[int]:
            try:
                return list(tokenizer.encode(text, add_special_tokens=False))
            except TypeError:
                return list(tokenizer.encode(text))
        return encode
    if callable(tokenizer):
        return lambda text: list(tokenizer(text))
    raise TypeError(f"tokenizer must have an .encode(text) method or be callable, got {type(tokenizer).__name__}.")


def load_pairs_jsonl(path: str | Path, tokenizer: Any = None, answer_pos: int = -1) -> PromptPairs:
    """Load prompt pairs from a JSONL file.

    Args:
        path: the ``.jsonl`` file.
        tokenizer: turns text fields into token ids (a HuggingFace tokenizer, anything with
            ``encode(text)``, or a callable); needed only when a field is text.
        answer_pos: position where the metric is read (default: the last one).

    Raises:
        PromptPairError: naming the line (and field) that is malformed, or the index of the first
            pair whose clean and corrupt prompts differ in length.
        FileNotFoundError: when ``path`` does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no prompt-pair file at {str(path)!r}.")
    encode = _encoder(tokenizer)
    rows: list[tuple[int, list[int], list[int], int, int]] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            where = f"{path.name}, line {lineno}"
            try:
                record = json.loads(text)
            except json.JSONDecodeError as err:
                raise PromptPairError(f"{where}: not valid JSON ({err.msg} at column {err.colno}).") from None
            if not isinstance(record, dict):
                raise PromptPairError(f"{where}: expected a JSON object with fields {REQUIRED_FIELDS}, got {type(record).__name__}.")
            missing = [f for f in REQUIRED_FIELDS if f not in record]
            if missing:
                raise PromptPairError(f"{where}: missing field(s) {missing}; every line needs {list(REQUIRED_FIELDS)}.")
            clean = _tokens(record["clean"], "clean", where, encode)
            corrupt = _tokens(record["corrupt"], "corrupt", where, encode)
            answer = _single(record["answer"], "answer", where, encode)
            wrong = _single(record["wrong"], "wrong", where, encode)
            rows.append((lineno, clean, corrupt, answer, wrong))
    if not rows:
        raise PromptPairError(f"{path.name}: no prompt pairs found (the file is empty or only comments).")
    for index, (lineno, clean, corrupt, _, _) in enumerate(rows):
        if len(clean) != len(corrupt):
            raise PromptPairError(
                f"pair {index} ({path.name}, line {lineno}): clean has {len(clean)} tokens but corrupt has "
                f"{len(corrupt)}; every clean/corrupt pair must have the same length so positions align."
            )
    first_len = len(rows[0][1])
    for index, (lineno, clean, _, _, _) in enumerate(rows):
        if len(clean) != first_len:
            raise PromptPairError(
                f"pair {index} ({path.name}, line {lineno}) has {len(clean)} tokens but pair 0 has {first_len}; "
                "put prompts of different lengths in separate files (or pad them) so they can be batched."
            )
    as_long = lambda x: torch.tensor(x, dtype=torch.long)  # noqa: E731
    return PromptPairs(as_long([r[1] for r in rows]), as_long([r[2] for r in rows]), as_long([r[3] for r in rows]),
                       as_long([r[4] for r in rows]), answer_pos)


def _tokens(value: Any, field: str, where: str, encode: Callable[[str], list[int]] | None) -> list[int]:
    if isinstance(value, str):
        if encode is None:
            raise PromptPairError(f"{where}: field {field!r} is text; pass tokenizer= to load_pairs_jsonl (or give token ids).")
        ids = encode(value)
    elif isinstance(value, list):
        ids = value
    else:
        raise PromptPairError(f"{where}: field {field!r} must be a list of token ids or a string, got {type(value).__name__}.")
    if not ids:
        raise PromptPairError(f"{where}: field {field!r} is empty.")
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int) or i < 0:
            raise PromptPairError(f"{where}: field {field!r} must hold non-negative integer token ids, found {i!r}.")
    return [int(i) for i in ids]


def _single(value: Any, field: str, where: str, encode: Callable[[str], list[int]] | None) -> int:
    if isinstance(value, bool):
        raise PromptPairError(f"{where}: field {field!r} must be a token id or a one-token string, got {value!r}.")
    if isinstance(value, int):
        if value < 0:
            raise PromptPairError(f"{where}: field {field!r} must be a non-negative token id, got {value}.")
        return value
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], int):
        return int(value[0])
    if isinstance(value, str):
        if encode is None:
            raise PromptPairError(f"{where}: field {field!r} is text; pass tokenizer= to load_pairs_jsonl (or give a token id).")
        ids = encode(value)
        if len(ids) != 1:
            raise PromptPairError(
                f"{where}: field {field!r} = {value!r} tokenizes to {len(ids)} tokens {ids}; it must be exactly one "
                "token (try a leading space, e.g. ' Mary', or give the token id)."
            )
        return int(ids[0])
    raise PromptPairError(f"{where}: field {field!r} must be a token id or a one-token string, got {type(value).__name__}.")
