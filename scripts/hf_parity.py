"""Transformers parity of nodellm's CPU engine (run on the GPU machine, where transformers is).

    python3 scripts/hf_parity.py PARITY_DIR RESULT.json [cpu:float64] [cuda:float32] [cuda:bfloat16]

PARITY_DIR comes from scripts/hf-parity-prepare.ts: model directories and the engine's float32
logits for greedy generations. transformers loads each directory itself (LlamaForCausalLM,
eager attention, float64 on the CPU, and float32 on the GPU when there is one), runs the whole
token sequence teacher-forced, and the logits of the engine's rows are compared with its:
relative error = max |engine - hf| / max |hf| per row, and whether the greedy tokens agree.
"""
import json
import sys

import numpy as np
import torch
import transformers
from transformers import LlamaForCausalLM

parity_dir, result_path = sys.argv[1], sys.argv[2]
DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16}
refs = [(spec.split(":")[0], DTYPES[spec.split(":")[1]]) for spec in sys.argv[3:]] or \
    [("cpu", torch.float64)] + ([("cuda", torch.float32)] if torch.cuda.is_available() else [])
manifest = json.load(open(f"{parity_dir}/manifest.json"))
results = []
for variant in manifest:
    for device, dtype in refs:
        model = LlamaForCausalLM.from_pretrained(variant["dir"], dtype=dtype, attn_implementation="eager").to(device).eval()
        if device == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = False
        worst, agree, total = 0.0, 0, 0
        for seq in variant["sequences"]:
            prompt, generated = seq["prompt"], seq["generated"]
            ids = torch.tensor([prompt + generated[:-1]], device=device)
            with torch.no_grad():
                hf = model(ids).logits[0].double().cpu().numpy()
            engine = np.fromfile(f"{parity_dir}/{seq['logits_file']}", dtype=np.float32).reshape(seq["rows"], variant["vocab"])
            for step in range(seq["rows"]):
                ref = hf[len(prompt) - 1 + step]
                err = np.abs(engine[step] - ref).max() / np.abs(ref).max()
                worst = max(worst, float(err))
                agree += int(int(ref.argmax()) == generated[step])
                total += 1
        results.append({"variant": variant["name"], "engine_device": variant.get("device", "cpu"),
                        "hf_device": device, "hf_dtype": str(dtype),
                         "worst_relative_logit_error": worst, "greedy_agreement": agree / total, "rows": total})

json.dump({"transformers": transformers.__version__, "torch": torch.__version__, "results": results},
          open(result_path, "w"), indent=2)
print(f"{'variant':40} {'engine':7} {'hf':16} {'rows':>5} {'worst rel err':>14} {'argmax agree':>13}")
for r in results:
    print(f"{r['variant']:40} {r['engine_device']:7} {r['hf_device'] + ' ' + r['hf_dtype'].split('.')[-1]:16} {r['rows']:5d} {r['worst_relative_logit_error']:14.2e} {r['greedy_agreement']:13.3f}")
