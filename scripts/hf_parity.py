"""Transformers parity of nodellm's CPU engine (run on the GPU machine, where transformers is).

    python3 scripts/hf_parity.py PARITY_DIR RESULT.json [cpu:float64] [cuda:float32] [cuda:bfloat16]

PARITY_DIR comes from scripts/hf-parity-prepare.ts: model directories and the engine's float32
logits for greedy generations. transformers loads each directory itself (AutoModelForCausalLM:
the family its config.json names, eager attention, float64 on the CPU, and float32 on the GPU when there is one), runs the whole
token sequence teacher-forced, and the logits of the engine's rows are compared with its:
relative error = max |engine - hf| / max |hf| per row, and whether the greedy tokens agree.
"""
import json
import sys

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM

parity_dir, result_path = sys.argv[1], sys.argv[2]
DTYPES = {"float64": torch.float64, "float32": torch.float32, "bfloat16": torch.bfloat16}
refs = [(spec.split(":")[0], DTYPES[spec.split(":")[1]]) for spec in sys.argv[3:]] or \
    [("cpu", torch.float64)] + ([("cuda", torch.float32)] if torch.cuda.is_available() else [])
manifest = json.load(open(f"{parity_dir}/manifest.json"))
def compare(logits_by_seq, variant, against):
    """Worst relative logit error, mean of it, and argmax agreement of `logits_by_seq` rows with
    `against` (per sequence: an array of all positions' logits) over the engine's sampled rows."""
    worst, total_err, agree, total = 0.0, 0.0, 0, 0
    for seq, mine, ref_all in zip(variant["sequences"], logits_by_seq, against):
        for step in range(seq["rows"]):
            ref = ref_all[len(seq["prompt"]) - 1 + step]
            err = float(np.abs(mine[step] - ref).max() / np.abs(ref).max())
            worst, total_err = max(worst, err), total_err + err
            agree += int(int(np.argmax(mine[step])) == int(np.argmax(ref)))
            total += 1
    return worst, total_err / total, agree / total, total


results = []
for variant in manifest:
    engine = [np.fromfile(f"{parity_dir}/{seq['logits_file']}", dtype=np.float32).reshape(seq["rows"], variant["vocab"])
              for seq in variant["sequences"]]
    hf_logits = {}
    for device, dtype in refs:
        model = AutoModelForCausalLM.from_pretrained(variant["dir"], dtype=dtype, attn_implementation="eager").to(device).eval()
        if device == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = False
        outs = []
        for seq in variant["sequences"]:
            ids = torch.tensor([seq["prompt"] + seq["generated"][:-1]], device=device)
            with torch.no_grad():
                outs.append(model(ids).logits[0].double().cpu().numpy())
        hf_logits[f"{device}:{str(dtype).split('.')[-1]}"] = outs
        del model
    # The engine against each reference, and each lower-precision reference against the most
    # precise one (how far transformers itself moves at that precision, for scale).
    names = list(hf_logits)
    pairs = [("engine " + variant.get("device", "cpu"), engine, n, hf_logits[n]) for n in names]
    pairs += [("hf " + n, [o[len(s["prompt"]) - 1:] for o, s in zip(hf_logits[n], variant["sequences"])], names[-1], hf_logits[names[-1]])
              for n in names[:-1]]
    for label, mine, ref_name, ref in pairs:
        worst, mean, agree, total = compare(mine, variant, ref)
        results.append({"variant": variant["name"], "compared": label, "reference": "hf " + ref_name,
                        "worst_relative_logit_error": worst, "mean_relative_logit_error": mean,
                        "argmax_agreement": agree, "rows": total})

json.dump({"transformers": transformers.__version__, "torch": torch.__version__, "results": results},
          open(result_path, "w"), indent=2)
print(f"{'variant':38} {'compared':16} {'reference':18} {'rows':>5} {'worst rel':>10} {'mean rel':>10} {'argmax':>7}")
for r in results:
    print(f"{r['variant']:38} {r['compared']:16} {r['reference']:18} {r['rows']:5d} {r['worst_relative_logit_error']:10.2e} "
          f"{r['mean_relative_logit_error']:10.2e} {r['argmax_agreement']:7.3f}")
