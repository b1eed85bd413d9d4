"""Writes a Llama checkpoint of random bf16 weights for a config.json, as sharded safetensors with
an index, like a Hub download: the input of the cold-start benchmark (bench/cold-start.ts), which
must read real files (LOAD_FORMAT=dummy would skip the reading).

    python3 scripts/make_random_llama.py bench/configs/llama3-8b OUT_DIR TOKENIZER_DIR

The weights are drawn on the GPU when there is one (normal, std 0.02; norms 1).
"""
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

SHARD_BYTES = 5 * 2**30


def tensor_shapes(c):
    hidden, inter, vocab = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    heads, kv_heads = c["num_attention_heads"], c["num_key_value_heads"]
    head_dim = c.get("head_dim") or hidden // heads
    yield "model.embed_tokens.weight", (vocab, hidden)
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        yield p + "input_layernorm.weight", (hidden,)
        yield p + "self_attn.q_proj.weight", (heads * head_dim, hidden)
        yield p + "self_attn.k_proj.weight", (kv_heads * head_dim, hidden)
        yield p + "self_attn.v_proj.weight", (kv_heads * head_dim, hidden)
        yield p + "self_attn.o_proj.weight", (hidden, heads * head_dim)
        yield p + "post_attention_layernorm.weight", (hidden,)
        yield p + "mlp.gate_proj.weight", (inter, hidden)
        yield p + "mlp.up_proj.weight", (inter, hidden)
        yield p + "mlp.down_proj.weight", (hidden, inter)
    yield "model.norm.weight", (hidden,)
    if not c.get("tie_word_embeddings", False):
        yield "lm_head.weight", (vocab, hidden)


def main(config_dir, out_dir, tokenizer_dir):
    config_dir, out_dir, tokenizer_dir = Path(config_dir), Path(out_dir), Path(tokenizer_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = json.loads((config_dir / "config.json").read_text())
    for name in ("config.json", "generation_config.json"):
        shutil.copy(config_dir / name, out_dir / name)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tokenizer_dir / name, out_dir / name)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    gen = torch.Generator(device=device).manual_seed(0)
    shards, current, size = [], {}, 0
    for name, shape in tensor_shapes(config):
        if len(shape) == 1:
            t = torch.ones(shape, dtype=torch.bfloat16)
        else:
            t = (torch.randn(shape, generator=gen, device=device, dtype=torch.float32) * 0.02).to(torch.bfloat16).cpu()
        nbytes = t.numel() * 2
        if current and size + nbytes > SHARD_BYTES:
            shards.append(current)
            current, size = {}, 0
        current[name] = t
        size += nbytes
    shards.append(current)
    weight_map, total = {}, 0
    for i, shard in enumerate(shards):
        file = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, str(out_dir / file), metadata={"format": "pt"})
        for name, t in shard.items():
            weight_map[name] = file
            total += t.numel() * 2
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (out_dir / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    print(f"wrote {len(shards)} shards, {total / 2**30:.1f} GiB, to {out_dir}")


if __name__ == "__main__":
    main(*sys.argv[1:4])
