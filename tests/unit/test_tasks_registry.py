"""Task generators: shapes, the promised structure of clean/corrupt pairs, registry errors, JSONL reader."""

from __future__ import annotations

import json

import pytest
import torch

from neurocircuits.data.tasks import (
    IGNORE, PromptPairError, Task, get_task, list_tasks, load_pairs_jsonl,
)
from neurocircuits.registry import UnknownNameError


def test_registry_lists_tasks_and_rejects_unknown_names() -> None:
    assert set(list_tasks()) >= {"induction", "ioi", "greater_than", "docstring"}
    with pytest.raises(UnknownNameError, match="Did you mean 'induction'.*Valid tasks: docstring, greater_than"):
        get_task("inductoin")


@pytest.mark.parametrize("name", ["induction", "ioi", "greater_than", "docstring"])
def test_pairs_and_training_batches_are_well_formed(name: str) -> None:
    task = get_task(name)
    assert isinstance(task, Task) and task.mechanism
    pairs = task.make_pairs(64, seed=3)
    assert pairs.clean.shape == pairs.corrupt.shape == (64, task.seq_len)
    for t in (pairs.clean, pairs.corrupt, pairs.answer, pairs.wrong):
        assert int(t.min()) >= 0 and int(t.max()) < task.d_vocab
    assert torch.all(pairs.answer != pairs.wrong)
    assert torch.any(pairs.clean != pairs.corrupt, dim=1).all()  # every pair is actually corrupted
    assert torch.equal(pairs.clean[:, -1], pairs.corrupt[:, -1])  # the position read is unchanged
    again = task.make_pairs(64, seed=3)
    assert torch.equal(again.clean, pairs.clean)  # seeded
    batch = task.training_batch(32, seed=1)
    assert batch.tokens.shape == batch.targets.shape == (32, task.seq_len)
    assert torch.all((batch.targets == IGNORE) | ((batch.targets >= 0) & (batch.targets < task.d_vocab)))
    assert torch.all((batch.targets != IGNORE).sum(1) >= 1)
    assert len(task.token_names) == task.d_vocab
    assert isinstance(task.decode(pairs.clean[0]), str)
    with pytest.raises(ValueError, match="positive integer"):
        task.make_pairs(0)


def test_induction_answer_follows_earlier_occurrence_and_corrupt_removes_it() -> None:
    task = get_task("induction")
    pairs = task.make_pairs(200, seed=0)
    lengths, offsets = set(), set()
    for clean, corrupt, ans, wrong in zip(pairs.clean.tolist(), pairs.corrupt.tolist(), pairs.answer.tolist(),
                                          pairs.wrong.tolist()):
        last = clean[-1]
        earlier = [i for i in range(len(clean) - 1) if clean[i] == last]
        assert earlier, "the last token occurs earlier in the clean prompt"
        i = earlier[0]
        assert clean[i + 1] == ans
        assert last not in corrupt[:-1]  # no earlier copy of the last token: nothing to induct from
        assert wrong not in clean
        offsets.add(i)
        lengths.add(len(clean) - clean.index(clean[-1]))
    assert len(offsets) > 5 and len(lengths) > 5  # random offsets and repeat distances


def test_ioi_structure() -> None:
    task = get_task("ioi")
    pairs = task.make_pairs(100, seed=0)
    names = set(task.name_ids.tolist())
    for clean, corrupt, io, s in zip(pairs.clean.tolist(), pairs.corrupt.tolist(), pairs.answer.tolist(),
                                     pairs.wrong.tolist()):
        assert {clean[1], clean[3]} == {io, s}
        assert clean[task.S2_POS] == s and clean.count(s) == 2 and clean.count(io) == 1
        assert corrupt[task.S2_POS] in names - {io, s}
    orders = {tuple(r) for r in (pairs.clean[:, [1, 3]] == pairs.answer[:, None]).tolist()}
    assert orders == {(True, False), (False, True)}  # both ABBA and BABA


def test_greater_than_structure_and_metric() -> None:
    task = get_task("greater_than")
    pairs = task.make_pairs(100, seed=0)
    yy = pairs.clean[:, task.YY_POS]
    assert torch.all(pairs.answer > yy) and torch.all(pairs.wrong < yy)
    assert torch.all(pairs.corrupt[:, task.YY_POS] == task.year0 + 1)
    # a model that puts all its mass on year 99 has prob_diff = +1; on year 00, -1
    logits = torch.full((100, task.seq_len, task.d_vocab), -1e4)
    logits[:, -1, task.year0 + 99] = 0
    assert torch.allclose(task.prob_diff(logits, pairs), torch.ones(100))
    assert task.correct(logits, pairs).all()
    logits[:, -1, task.year0 + 99] = -1e4
    logits[:, -1, task.year0] = 0
    assert torch.allclose(task.prob_diff(logits, pairs), -torch.ones(100))


def test_docstring_answer_is_next_signature_argument() -> None:
    task = get_task("docstring")
    pairs = task.make_pairs(100, seed=0)
    param, lpar = task._id[":param"], task._id["("]
    for clean, corrupt, ans, wrong in zip(pairs.clean.tolist(), pairs.corrupt.tolist(), pairs.answer.tolist(),
                                          pairs.wrong.tolist()):
        start = clean.index(lpar) + 1
        n_doc = clean.count(param) - 1
        assert clean[start + n_doc] == ans and corrupt[start + n_doc] == wrong
        documented = [clean[i + 1] for i, t in enumerate(clean[:-1]) if t == param]
        assert documented == clean[start:start + n_doc]
        assert not set(documented) & set(corrupt[start:start + n_doc + 1])


def test_jsonl_reader(tmp_path) -> None:
    path = tmp_path / "pairs.jsonl"
    path.write_text('# comment\n{"clean": [1, 2, 3], "corrupt": [1, 4, 3], "answer": 5, "wrong": 6}\n\n'
                    '{"clean": [2, 2, 3], "corrupt": [2, 4, 3], "answer": [7], "wrong": 8}\n')
    pairs = load_pairs_jsonl(path)
    assert pairs.clean.tolist() == [[1, 2, 3], [2, 2, 3]] and pairs.answer.tolist() == [5, 7]

    def bad(lines: list[str], match: str, **kw) -> None:
        path.write_text("\n".join(lines) + "\n")
        with pytest.raises(PromptPairError, match=match):
            load_pairs_jsonl(path, **kw)

    good = json.dumps({"clean": [1, 2], "corrupt": [1, 3], "answer": 4, "wrong": 5})
    bad([good, "{not json"], r"line 2: not valid JSON")
    bad([good, json.dumps({"clean": [1, 2], "answer": 1, "wrong": 2})], r"line 2: missing field\(s\) \['corrupt'\]")
    bad([good, good, json.dumps({"clean": [1, 2], "corrupt": [1, 2, 3], "answer": 4, "wrong": 5})],
        r"pair 2 \(pairs.jsonl, line 3\): clean has 2 tokens but corrupt has 3")
    bad([json.dumps({"clean": "a b", "corrupt": "a c", "answer": 1, "wrong": 2})], r"line 1: field 'clean' is text; pass tokenizer=")
    bad([json.dumps({"clean": [1, -2], "corrupt": [1, 2], "answer": 1, "wrong": 2})], r"non-negative integer token ids")
    bad([good, json.dumps({"clean": [1, 2, 3], "corrupt": [1, 2, 4], "answer": 4, "wrong": 5})],
        r"pair 1 .* has 3 tokens but pair 0 has 2")
    words = {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}
    tok = lambda text: [words[w] for w in text.split()]  # noqa: E731
    bad([json.dumps({"clean": "a b", "corrupt": "a c", "answer": "d e", "wrong": "e"})], r"tokenizes to 2 tokens", tokenizer=tok)
    path.write_text(json.dumps({"clean": "a b", "corrupt": "a c", "answer": "d", "wrong": "e"}) + "\n")
    pairs = load_pairs_jsonl(path, tokenizer=tok)
    assert pairs.corrupt.tolist() == [[1, 3]] and pairs.wrong.tolist() == [5]
    with pytest.raises(FileNotFoundError):
        load_pairs_jsonl(tmp_path / "nope.jsonl")
