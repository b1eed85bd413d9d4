#!/usr/bin/env python3
"""Writes the model-family fixtures of test/fixtures/families/ with transformers (issue 17).

For each family: a tiny checkpoint with seeded random weights, saved by transformers in bfloat16
(config.json, generation_config.json, model.safetensors), then loaded back in float32 and run on
a few token-id prompts longer than the sliding windows. expected.json holds, per prompt, the
float32 logits of every position (as base64 little-endian float32), the greedy continuation
(each step a full forward over the whole sequence, no cache, so the reference is the model's
definition and not a cache's), and the top-5 logprobs of each greedy step.

It also writes rope.json: transformers' inverse frequencies and attention factor for each RoPE
scaling type, the reference for lib/ and native/ rope tables.

Run on the GPU machine (transformers is there): python3 scripts/make_family_fixtures.py OUT_DIR
"""
import base64
import json
import os
import sys
import traceback

import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM

OUT = sys.argv[1] if len(sys.argv) > 1 else "/tmp/families"
VOCAB = 1024
STEPS = 8
PROMPT_LENGTHS = [40, 23]

BASE = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=4,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
    rms_norm_eps=1e-6,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=0,
)

# name -> (model_type, config overrides). Windows of 8 tokens, prompts of 23 and 40 tokens.
FAMILIES = {
    "llama": ("llama", dict(head_dim=16, tie_word_embeddings=False)),
    "qwen2": ("qwen2", dict(tie_word_embeddings=True, use_sliding_window=False,
                            rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})),
    "qwen2-yarn": ("qwen2", dict(tie_word_embeddings=False, use_sliding_window=False,
                                 rope_parameters={"rope_type": "yarn", "rope_theta": 1000000.0, "factor": 4.0,
                                                  "original_max_position_embeddings": 64})),
    "qwen3": ("qwen3", dict(head_dim=32, tie_word_embeddings=False)),
    "mistral": ("mistral", dict(head_dim=32, sliding_window=8, tie_word_embeddings=False)),
    "gemma2": ("gemma2", dict(head_dim=32, query_pre_attn_scalar=24, sliding_window=8,
                              attn_logit_softcapping=2.0, final_logit_softcapping=5.0,
                              hidden_activation="gelu_pytorch_tanh")),
    "gemma3": ("gemma3_text", dict(head_dim=32, query_pre_attn_scalar=32, sliding_window=8,
                                   layer_types=["sliding_attention", "sliding_attention", "sliding_attention",
                                                "full_attention"],
                                   rope_parameters={
                                       "full_attention": {"rope_type": "linear", "factor": 8.0, "rope_theta": 1000000.0},
                                       "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                                   })),
    # Phi-3 keeps original_max_position_embeddings at the top level too (and transformers 5 lets
    # it win over the rope dict's): 32, so the 40-token prompt takes the long factors.
    "phi3": ("phi3", dict(partial_rotary_factor=0.75, max_position_embeddings=128, tie_word_embeddings=False,
                          original_max_position_embeddings=32,
                          rope_parameters={"rope_type": "longrope", "rope_theta": 10000.0,
                                           "original_max_position_embeddings": 32,
                                           "short_factor": [1.0, 1.1, 1.3, 1.6, 2.0, 2.5],
                                           "long_factor": [1.0, 1.5, 2.5, 4.0, 6.0, 9.0]})),
}


def b64(t):
    return base64.b64encode(t.detach().to(torch.float32).contiguous().numpy().tobytes()).decode()


# Older transformers spell per-layer-type RoPE as rope_theta, rope_scaling and rope_local_base_freq.
LEGACY = {
    "gemma3": dict(rope_parameters=None, rope_theta=1000000.0, rope_local_base_freq=10000.0,
                   rope_scaling={"rope_type": "linear", "factor": 8.0}),
}


def make_config(name, model_type, overrides):
    kwargs = dict(BASE)
    kwargs.update(overrides)
    try:
        return AutoConfig.for_model(model_type, **kwargs)
    except Exception:  # noqa: BLE001
        if name not in LEGACY:
            raise
        traceback.print_exc()
        kwargs.update(LEGACY[name])
        kwargs = {k: v for k, v in kwargs.items() if v is not None}
        return AutoConfig.for_model(model_type, **kwargs)


def run_family(name, model_type, overrides):
    torch.manual_seed(1234)
    config = make_config(name, model_type, overrides)
    config._attn_implementation = "eager"  # soft-capping and windows exactly as the eager path defines them
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32, attn_implementation="eager")
    # Random init gives tiny norms and near-zero biases; draw every tensor so each feature shows.
    g = torch.Generator().manual_seed(99)
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if p.dim() == 1:
                base = 0.0 if ("gemma" in model_type and "norm" in pname) else (1.0 if "norm" in pname else 0.0)
                p.copy_(base + 0.1 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / (p.shape[1] ** 0.5))
    out = os.path.join(OUT, name)
    os.makedirs(out, exist_ok=True)
    model.to(torch.bfloat16).save_pretrained(out, safe_serialization=True)
    print(name, "config:", open(os.path.join(out, "config.json")).read())
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").eval()

    gen = torch.Generator().manual_seed(7)
    prompts = []
    for length in PROMPT_LENGTHS:
        ids = torch.randint(3, VOCAB, (length,), generator=gen).tolist()
        with torch.no_grad():
            logits = model(torch.tensor([ids])).logits[0]
            seq, steps = list(ids), []
            for _ in range(STEPS):
                last = model(torch.tensor([seq])).logits[0, -1]
                lp = torch.log_softmax(last.double(), -1)
                top = torch.topk(lp, 5)
                tok = int(torch.argmax(last))
                steps.append({"token": tok, "top5": [[int(i), float(v)] for v, i in zip(top.values, top.indices)]})
                seq.append(tok)
        prompts.append({"prompt": ids, "logits_f32_b64": b64(logits), "shape": list(logits.shape), "greedy": steps})
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump({"family": name, "transformers": transformers.__version__, "torch": torch.__version__,
                   "prompts": prompts}, f)
    return os.path.getsize(os.path.join(out, "model.safetensors"))


def rope_references():
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
    cases = {
        "linear": {"rope_type": "linear", "factor": 4.0},
        "dynamic": {"rope_type": "dynamic", "factor": 2.0},
        "llama3": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 64},
        "yarn": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64},
        "yarn-betas": {"rope_type": "yarn", "factor": 8.0, "original_max_position_embeddings": 64, "beta_fast": 16.0,
                       "beta_slow": 2.0, "attention_factor": 1.3},
        "longrope": {"rope_type": "longrope", "original_max_position_embeddings": 32,
                     "short_factor": [1.0, 1.1, 1.3, 1.6, 2.0, 2.5, 3.0, 3.5],
                     "long_factor": [1.0, 1.5, 2.5, 4.0, 6.0, 9.0, 12.0, 16.0]},
    }
    results = {}
    for name, params in cases.items():
        rp = dict(params)
        rp["rope_theta"] = 10000.0
        cfg = AutoConfig.for_model("llama", hidden_size=64, num_attention_heads=4, head_dim=16,
                                   max_position_embeddings=128, rope_parameters=rp)
        kind = params["rope_type"]
        entry = {"rope_parameters": rp, "head_dim": 16, "max_position_embeddings": 128}
        try:
            fn = ROPE_INIT_FUNCTIONS[kind]
            for label, seq_len in (("short", 16), ("long", 100)):
                try:
                    inv, factor = fn(cfg, "cpu", seq_len=seq_len)
                except TypeError:
                    inv, factor = fn(cfg, "cpu")
                entry[label] = {"seq_len": seq_len, "inv_freq": [float(x) for x in inv],
                                "attention_factor": float(factor)}
        except Exception as e:  # noqa: BLE001
            entry["error"] = repr(e)
        results[name] = entry
    return results


def main():
    os.makedirs(OUT, exist_ok=True)
    print("transformers", transformers.__version__, "torch", torch.__version__)
    only = os.environ.get("ONLY")  # a comma-separated subset of FAMILIES
    for name, (model_type, overrides) in FAMILIES.items():
        if only and name not in only.split(","):
            continue
        try:
            size = run_family(name, model_type, overrides)
            print(f"{name}: ok, {size} bytes of weights")
        except Exception:  # noqa: BLE001
            print(f"{name}: FAILED")
            traceback.print_exc()
    try:
        with open(os.path.join(OUT, "rope.json"), "w") as f:
            json.dump(rope_references(), f, indent=1)
        print("rope: ok")
    except Exception:  # noqa: BLE001
        traceback.print_exc()


if __name__ == "__main__":
    main()
