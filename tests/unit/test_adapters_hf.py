"""HuggingFace adapter: tiny GPT-2 / Llama / Mistral / Qwen2 models built in the test, saved, loaded offline.

These tests need ``transformers`` (the [hf] extra, also in the test extra). They FAIL, not skip,
when it is missing, so CI notices a broken environment.
"""

from __future__ import annotations

import json

import pytest
import torch

try:
    import transformers
except ImportError:  # pragma: no cover - environment problem, reported by the fixture below
    transformers = None

from neurocircuits.data.tasks import load_pairs_jsonl
from neurocircuits.layers.hooks import hooks


@pytest.fixture(autouse=True)
def _need_transformers() -> None:
    if transformers is None:
        pytest.fail("transformers is not installed: pip install 'transformers>=4.44,<5' (neurocircuits[hf,test]).")


def _tiny(kind: str):
    torch.manual_seed(0)
    if kind == "gpt2":
        cfg = transformers.GPT2Config(n_layer=2, n_head=4, n_embd=32, n_positions=16, vocab_size=50,
                                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
        model = transformers.GPT2LMHeadModel(cfg)
    elif kind == "llama":
        cfg = transformers.LlamaConfig(hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                                       num_key_value_heads=2, vocab_size=50, max_position_embeddings=32,
                                       rope_theta=500.0, tie_word_embeddings=False)
        model = transformers.LlamaForCausalLM(cfg)
    elif kind == "mistral":
        cfg = transformers.MistralConfig(hidden_size=32, intermediate_size=40, num_hidden_layers=2, num_attention_heads=4,
                                         num_key_value_heads=1, vocab_size=50, max_position_embeddings=32, head_dim=8)
        model = transformers.MistralForCausalLM(cfg)
    else:
        cfg = transformers.Qwen2Config(hidden_size=32, intermediate_size=40, num_hidden_layers=2, num_attention_heads=4,
                                       num_key_value_heads=2, vocab_size=50, max_position_embeddings=32,
                                       tie_word_embeddings=True)
        model = transformers.Qwen2ForCausalLM(cfg)
    with torch.no_grad():  # random norms and biases too, so that every converted tensor matters
        for name, p in model.named_parameters():
            p.add_(torch.randn_like(p) * (0.3 if ("norm" in name or "ln" in name or "bias" in name) else 0.05))
    return model.eval()


KINDS = ["gpt2", "llama", "mistral", "qwen2"]


@pytest.mark.parametrize("kind", KINDS)
def test_logits_match_huggingface(kind: str, tmp_path) -> None:
    from neurocircuits.models.adapters.hf import load_hf_model

    hf = _tiny(kind)
    hf.save_pretrained(tmp_path)
    model = load_hf_model(tmp_path)
    assert model.hf_model_type == kind and model.tokenizer is None
    tokens = torch.randint(0, 50, (3, 12), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = hf(tokens).logits
        ours = model(tokens)
        hooked, cache = model.run_with_cache(tokens)  # the materialised per-head path, too
    assert torch.allclose(ours, ref, atol=1e-4), float((ours - ref).abs().max())
    assert torch.allclose(hooked, ref, atol=1e-4)
    assert cache["blocks.1.attn.hook_k_input"].shape == (3, 12, 4, 32)
    assert cache["blocks.1.attn.hook_result"].shape == (3, 12, 4, 32)


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_contract_reader_equals_sum_of_writers(kind: str, tmp_path) -> None:
    from neurocircuits.models.adapters.hf import load_hf_model

    _tiny(kind).save_pretrained(tmp_path)
    model = load_hf_model(tmp_path)
    graph = model.computation_graph()
    tokens = torch.randint(0, 50, (2, 9), generator=torch.Generator().manual_seed(2))
    _, cache = model.run_with_cache(tokens, names=sorted({n.attrs["hook"] for n in graph.nodes}))

    def act(name: str) -> torch.Tensor:
        node = graph.node(name)
        x = cache[node.attrs["hook"]]
        return x[:, :, node.head] if node.head is not None else x

    for node in graph.nodes:
        if node.attrs["role"] != "reader":
            continue
        const = act(node.name) - sum(act(w) for w in graph.predecessors(node.name))
        expected = sum((b.attn.b_O for b in model.blocks[: node.layer]), torch.zeros(32))
        if node.kind == "mlp_input":
            expected = expected + model.blocks[node.layer].attn.b_O
        assert torch.allclose(const, expected.detach().expand_as(const), atol=1e-5), node.name


def test_zeroing_a_head_matches_the_same_intervention_in_huggingface(tmp_path) -> None:
    """Zeroing head 1 of layer 0 through hook_result equals zeroing its slice of c_proj's input in HF GPT-2."""
    from neurocircuits.models.adapters.hf import load_hf_model

    hf = _tiny("gpt2")
    hf.save_pretrained(tmp_path)
    model = load_hf_model(tmp_path)
    tokens = torch.randint(0, 50, (2, 10))

    def zero(x: torch.Tensor, hook: object) -> torch.Tensor:
        x = x.clone()
        x[:, :, 1] = 0
        return x

    def zero_hf(module: object, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        z = args[0].clone()
        z[..., 8:16] = 0  # head 1 of 4, d_head 8
        return (z,)

    with torch.no_grad(), hooks(model, {"blocks.0.attn.hook_result": zero}):
        ours = model(tokens)
    handle = hf.transformer.h[0].attn.c_proj.register_forward_pre_hook(zero_hf)
    try:
        with torch.no_grad():
            ref = hf(tokens).logits
    finally:
        handle.remove()
    with torch.no_grad():
        plain = hf(tokens).logits
    assert not torch.allclose(plain, ref, atol=1e-3)
    assert torch.allclose(ours, ref, atol=1e-4)


def _word_tokenizer(folder) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {w: i for i, w in enumerate(["<unk>", "When", "Mary", "and", "John", "went", "to", "the", "store", ",",
                                         "gave", "a", "drink", "Tom"])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>")
    fast.save_pretrained(folder)


def test_folder_with_tokenizer_and_text_pairs(tmp_path) -> None:
    from neurocircuits.models.adapters.hf import load_hf_model

    _tiny("gpt2").save_pretrained(tmp_path)
    _word_tokenizer(tmp_path)
    model = load_hf_model(tmp_path)
    assert model.tokenizer is not None
    assert model.to_tokens("When Mary and John").tolist() == [[1, 2, 3, 4]]
    data = tmp_path / "pairs.jsonl"
    rows = [
        {"clean": "When Mary and John went to the store , John gave a drink to",
         "corrupt": "When Mary and John went to the store , Tom gave a drink to", "answer": "Mary", "wrong": "John"},
        {"clean": [1, 4, 3, 2, 5, 6, 7, 8, 9, 2, 10, 11, 12, 6],
         "corrupt": [1, 4, 3, 2, 5, 6, 7, 8, 9, 13, 10, 11, 12, 6], "answer": 4, "wrong": 2},
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    pairs = load_pairs_jsonl(data, tokenizer=model.tokenizer)
    assert pairs.clean.shape == (2, 14)
    assert pairs.clean[0, 9] == 4 and pairs.corrupt[0, 9] == 13 and pairs.answer.tolist() == [2, 4]
    logits = model(pairs.clean)
    assert logits.shape == (2, 14, 50)


def test_errors(tmp_path) -> None:
    from neurocircuits.models.adapters.hf import HFAdapterError, from_hf_model, load_hf_model

    with pytest.raises(FileNotFoundError, match="not a folder"):
        load_hf_model(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no config.json"):
        load_hf_model(tmp_path)
    bert = transformers.BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
                                   vocab_size=30)
    bert.save_pretrained(tmp_path)
    with pytest.raises(HFAdapterError, match="supported model types: gpt2, llama"):
        load_hf_model(tmp_path)
    llama = _tiny("llama")
    llama.config.rope_scaling = {"rope_type": "linear", "factor": 2.0}
    with pytest.raises(HFAdapterError, match="rope_scaling"):
        from_hf_model(llama)
    backbone = transformers.GPT2Model(transformers.GPT2Config(n_layer=1, n_head=2, n_embd=8, n_positions=8, vocab_size=10))
    with pytest.raises(HFAdapterError, match="not a bare backbone"):
        from_hf_model(backbone)
