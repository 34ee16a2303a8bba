"""Adapter: HuggingFace causal LMs (GPT-2 style, Llama style) as discoverable hooked transformers.

The HuggingFace weights are converted into a :class:`~neurocircuits.models.transformer.HookedTransformer`
(same hook points, same :meth:`computation_graph`), whose own forward computes the per-head split
inputs and per-head results; its logits equal the HuggingFace model's (tested to 1e-4).

Supported ``model_type`` values (see :data:`HF_CONVERTERS`):

- ``gpt2``: LayerNorm, learned positions, fused ``c_attn`` (Conv1D), GELU (tanh) MLP, tied unembedding.
- ``llama``, ``mistral``, ``qwen2``: RMSNorm, rotary positions (default RoPE, no scaling),
  grouped-query attention, gated SiLU MLP (q/k/v biases for Qwen2).

Everything is offline: :func:`load_hf_model` reads a local folder with ``local_files_only=True``
and never contacts the hub. ``transformers`` is an optional dependency (extra ``[hf]``).
Padding/attention masks are not supported: batch prompts of equal length (as prompt pairs are).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ...registry import Registry
from ..transformer import HookedTransformer, TransformerConfig

__all__ = ["HFTransformer", "HFAdapterError", "HF_CONVERTERS", "load_hf_model", "from_hf_model"]


class HFAdapterError(ValueError):
    """A HuggingFace model or folder cannot be adapted; the message says why and what is supported."""


def _require_transformers() -> Any:
    try:
        import transformers
    except ImportError as err:
        raise ImportError(
            "the HuggingFace adapter needs the 'transformers' package: pip install 'transformers>=4.44,<5' "
            "(or install neurocircuits with the [hf] extra)."
        ) from err
    return transformers


class HFTransformer(HookedTransformer):
    """A :class:`HookedTransformer` converted from a HuggingFace model, with its tokenizer (if any).

    Attributes:
        tokenizer: the HuggingFace tokenizer found next to the weights, or ``None``.
        hf_model_type: the source ``model_type`` (``"gpt2"``, ``"llama"``, ...).
        source: where the weights came from (folder path or ``"<in-memory>"``).
    """

    def __init__(self, cfg: TransformerConfig, tokenizer: Any = None, hf_model_type: str = "",
                 source: str = "<in-memory>", device: Any = None, dtype: Any = None) -> None:
        super().__init__(cfg, device=device, dtype=dtype)
        self.tokenizer = tokenizer
        self.hf_model_type = hf_model_type
        self.source = source

    def to_tokens(self, text: str | list[str]) -> torch.Tensor:
        """Token ids (batch, pos) of ``text`` with the model's tokenizer (no special tokens added)."""
        if self.tokenizer is None:
            raise HFAdapterError(f"the model loaded from {self.source!r} has no tokenizer; pass token ids instead of text.")
        texts = [text] if isinstance(text, str) else list(text)
        ids = [self.tokenizer.encode(t, add_special_tokens=False) for t in texts]
        if len({len(i) for i in ids}) > 1:
            raise HFAdapterError(f"texts tokenize to different lengths {[len(i) for i in ids]}; padding is not supported.")
        return torch.tensor(ids, dtype=torch.long, device=self.device)


# -- converters ---------------------------------------------------------------------------------
Converter = Callable[[Any, dict[str, torch.Tensor]], tuple[TransformerConfig, dict[str, torch.Tensor]]]
HF_CONVERTERS: Registry[Converter] = Registry("HuggingFace model_type")

_HF_ACTS = {"gelu_new": "gelu_new", "gelu_pytorch_tanh": "gelu_new", "gelu_fast": "gelu_new", "gelu": "gelu",
            "relu": "relu", "silu": "silu", "swish": "silu"}


def _act(name: str) -> str:
    if name not in _HF_ACTS:
        raise HFAdapterError(f"activation {name!r} is not supported; supported: {sorted(_HF_ACTS)}.")
    return _HF_ACTS[name]


@HF_CONVERTERS.register("gpt2")
def _convert_gpt2(config: Any, sd: dict[str, torch.Tensor]) -> tuple[TransformerConfig, dict[str, torch.Tensor]]:
    if not getattr(config, "scale_attn_weights", True) or getattr(config, "scale_attn_by_inverse_layer_idx", False):
        raise HFAdapterError("GPT-2 models with scale_attn_weights=False or scale_attn_by_inverse_layer_idx=True are not supported.")
    d, H = config.n_embd, config.n_head
    dh = d // H
    d_mlp = config.n_inner if config.n_inner is not None else 4 * d
    cfg = TransformerConfig(
        n_layers=config.n_layer, n_heads=H, d_model=d, d_head=dh, d_mlp=d_mlp, n_ctx=config.n_positions,
        d_vocab=config.vocab_size, normalization="ln", act=_act(config.activation_function), positional="learned",
        attn_bias=True, mlp_bias=True, unembed_bias=False, norm_eps=config.layer_norm_epsilon,
    )
    p = "transformer."
    out = {"W_E": sd[p + "wte.weight"], "W_pos": sd[p + "wpe.weight"],
           "ln_final.w": sd[p + "ln_f.weight"], "ln_final.b": sd[p + "ln_f.bias"],
           "W_U": sd.get("lm_head.weight", sd[p + "wte.weight"]).T, "b_U": torch.zeros(config.vocab_size)}
    for layer in range(config.n_layer):
        h, b = f"{p}h.{layer}.", f"blocks.{layer}."
        w_qkv, b_qkv = sd[h + "attn.c_attn.weight"], sd[h + "attn.c_attn.bias"]  # Conv1D: (d, 3d), x @ W
        for i, name in enumerate("QKV"):
            out[b + f"attn.W_{name}"] = w_qkv[:, i * d:(i + 1) * d].reshape(d, H, dh).permute(1, 0, 2)
            out[b + f"attn.b_{name}"] = b_qkv[i * d:(i + 1) * d].reshape(H, dh)
        out[b + "attn.W_O"] = sd[h + "attn.c_proj.weight"].reshape(H, dh, d)
        out[b + "attn.b_O"] = sd[h + "attn.c_proj.bias"]
        out[b + "attn.ln.w"], out[b + "attn.ln.b"] = sd[h + "ln_1.weight"], sd[h + "ln_1.bias"]
        out[b + "mlp.ln.w"], out[b + "mlp.ln.b"] = sd[h + "ln_2.weight"], sd[h + "ln_2.bias"]
        out[b + "mlp.W_in"], out[b + "mlp.b_in"] = sd[h + "mlp.c_fc.weight"], sd[h + "mlp.c_fc.bias"]
        out[b + "mlp.W_out"], out[b + "mlp.b_out"] = sd[h + "mlp.c_proj.weight"], sd[h + "mlp.c_proj.bias"]
    return cfg, out


def _convert_llama_like(config: Any, sd: dict[str, torch.Tensor]) -> tuple[TransformerConfig, dict[str, torch.Tensor]]:
    scaling = getattr(config, "rope_scaling", None)
    if scaling and scaling.get("rope_type", scaling.get("type", "default")) != "default":
        raise HFAdapterError(f"rope_scaling={scaling!r} is not supported; only default RoPE is.")
    if getattr(config, "partial_rotary_factor", 1.0) != 1.0:
        raise HFAdapterError("partial rotary embeddings are not supported.")
    d, H = config.hidden_size, config.num_attention_heads
    KV = getattr(config, "num_key_value_heads", None) or H
    dh = getattr(config, "head_dim", None) or d // H
    qkv_bias = "model.layers.0.self_attn.q_proj.bias" in sd
    o_bias = "model.layers.0.self_attn.o_proj.bias" in sd
    mlp_bias = "model.layers.0.mlp.up_proj.bias" in sd
    cfg = TransformerConfig(
        n_layers=config.num_hidden_layers, n_heads=H, n_kv_heads=KV, d_model=d, d_head=dh,
        d_mlp=config.intermediate_size, n_ctx=config.max_position_embeddings, d_vocab=config.vocab_size,
        normalization="rms", act=_act(config.hidden_act), positional="rotary",
        rotary_base=float(getattr(config, "rope_theta", 10000.0)), gated_mlp=True, attn_bias=qkv_bias or o_bias,
        mlp_bias=mlp_bias, unembed_bias=False, norm_eps=config.rms_norm_eps,
    )
    lm_head = sd.get("lm_head.weight", sd["model.embed_tokens.weight"])
    out = {"W_E": sd["model.embed_tokens.weight"], "ln_final.w": sd["model.norm.weight"], "W_U": lm_head.T,
           "b_U": torch.zeros(config.vocab_size)}
    for layer in range(config.num_hidden_layers):
        h, b = f"model.layers.{layer}.", f"blocks.{layer}."
        for name, heads in (("q", H), ("k", KV), ("v", KV)):
            w = sd[h + f"self_attn.{name}_proj.weight"]  # Linear: (heads * dh, d), x @ W.T
            out[b + f"attn.W_{name.upper()}"] = w.T.reshape(d, heads, dh).permute(1, 0, 2)
            bias = sd.get(h + f"self_attn.{name}_proj.bias")
            out[b + f"attn.b_{name.upper()}"] = bias.reshape(heads, dh) if bias is not None else torch.zeros(heads, dh)
        out[b + "attn.W_O"] = sd[h + "self_attn.o_proj.weight"].T.reshape(H, dh, d)
        out[b + "attn.b_O"] = sd.get(h + "self_attn.o_proj.bias", torch.zeros(d))
        out[b + "attn.ln.w"] = sd[h + "input_layernorm.weight"]
        out[b + "mlp.ln.w"] = sd[h + "post_attention_layernorm.weight"]
        out[b + "mlp.W_gate"] = sd[h + "mlp.gate_proj.weight"].T
        out[b + "mlp.W_in"] = sd[h + "mlp.up_proj.weight"].T
        out[b + "mlp.b_in"] = sd.get(h + "mlp.up_proj.bias", torch.zeros(config.intermediate_size))
        if mlp_bias and h + "mlp.gate_proj.bias" in sd and bool(sd[h + "mlp.gate_proj.bias"].abs().max() > 0):
            raise HFAdapterError("a bias on gate_proj is not supported.")
        out[b + "mlp.W_out"] = sd[h + "mlp.down_proj.weight"].T
        out[b + "mlp.b_out"] = sd.get(h + "mlp.down_proj.bias", torch.zeros(d))
    return cfg, out


for _name in ("llama", "mistral", "qwen2"):
    HF_CONVERTERS.add(_name, _convert_llama_like)


def from_hf_model(hf_model: Any, tokenizer: Any = None, device: Any = None, dtype: Any = None,
                  source: str = "<in-memory>") -> HFTransformer:
    """Convert an in-memory HuggingFace causal LM into an :class:`HFTransformer`.

    Raises:
        HFAdapterError: the architecture (``config.model_type``) or one of its options is unsupported.
    """
    config = hf_model.config
    model_type = getattr(config, "model_type", "?")
    if model_type not in HF_CONVERTERS:
        raise HFAdapterError(
            f"HuggingFace model_type {model_type!r} is not supported; supported: {', '.join(HF_CONVERTERS.names())}."
        )
    sd = {k: v.detach().to("cpu", torch.float32) for k, v in hf_model.state_dict().items()}
    try:
        cfg, weights = HF_CONVERTERS.get(model_type)(config, sd)
    except KeyError as err:
        raise HFAdapterError(
            f"the {model_type!r} model has no weight {err.args[0]!r}; pass a causal LM with its head "
            "(e.g. GPT2LMHeadModel or LlamaForCausalLM, as loaded by AutoModelForCausalLM), not a bare backbone."
        ) from None
    model = HFTransformer(cfg, tokenizer=tokenizer, hf_model_type=model_type, source=source, device=device, dtype=dtype)
    own = model.state_dict()
    missing = set(own) - set(weights)
    unexpected = set(weights) - set(own)
    if missing or unexpected:
        raise HFAdapterError(f"internal conversion mismatch for {model_type!r}: missing {sorted(missing)[:5]}, "
                             f"unexpected {sorted(unexpected)[:5]}.")
    with torch.no_grad():
        for key, value in weights.items():
            if own[key].shape != value.shape:
                raise HFAdapterError(f"weight {key}: converted shape {tuple(value.shape)} != expected {tuple(own[key].shape)}.")
            own[key].copy_(value.to(own[key].dtype))
    return model.eval()


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json", "tokenizer.model")


def load_hf_model(folder: str | Path, device: Any = None, dtype: Any = None, tokenizer: bool = True) -> HFTransformer:
    """Load a local HuggingFace model folder offline (``local_files_only=True``, never the hub).

    Args:
        folder: a folder written by ``save_pretrained`` (``config.json`` + weights).
        device, dtype: where and how to allocate the converted model.
        tokenizer: also load the tokenizer when its files are present in the folder.

    Raises:
        FileNotFoundError: ``folder`` does not exist or has no ``config.json``.
        HFAdapterError: the architecture is not supported.
    """
    transformers = _require_transformers()
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{str(folder)!r} is not a folder; give a local model folder (no hub downloads are made).")
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{str(folder)!r} has no config.json; save the model there with model.save_pretrained(folder).")
    config = transformers.AutoConfig.from_pretrained(folder, local_files_only=True)
    if getattr(config, "model_type", None) not in HF_CONVERTERS:
        raise HFAdapterError(
            f"{str(folder)!r} holds a {getattr(config, 'model_type', '?')!r} model; supported model types: "
            f"{', '.join(HF_CONVERTERS.names())}."
        )
    hf_model = transformers.AutoModelForCausalLM.from_pretrained(folder, local_files_only=True, torch_dtype=torch.float32)
    tok = None
    if tokenizer and any((folder / f).is_file() for f in _TOKENIZER_FILES):
        tok = transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return from_hf_model(hf_model, tokenizer=tok, device=device, dtype=dtype, source=str(folder))
