#!/usr/bin/env python3
"""Writes a checkpoint of any supported family with random weights, for the 7-9B GPU parity and
speed runs of issue 17: transformers builds the model from a config.json (bench/configs/NAME) with
its own initialisation (seeded), on the GPU when there is one, and saves it in bfloat16 as
sharded safetensors, as a Hub download would be.

    python3 scripts/make_random_family.py bench/configs/qwen2.5-7b OUT_DIR [--layers N]

--layers keeps the first N layers (a shorter model of the same width, for a quicker run).
"""
import argparse

import torch
from transformers import AutoConfig, AutoModelForCausalLM

parser = argparse.ArgumentParser()
parser.add_argument("config_dir")
parser.add_argument("out_dir")
parser.add_argument("--layers", type=int, default=0)
args = parser.parse_args()

config = AutoConfig.from_pretrained(args.config_dir)
if args.layers:
    config.num_hidden_layers = args.layers
    if getattr(config, "layer_types", None):
        config.layer_types = config.layer_types[: args.layers]
torch.manual_seed(0)
device = "cuda" if torch.cuda.is_available() else "cpu"
with torch.device(device):
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
model.save_pretrained(args.out_dir, max_shard_size="5GB")
print(f"wrote {args.out_dir}: {sum(p.numel() for p in model.parameters()) / 1e9:.2f}B parameters")
