"""Transformers parity of a model directory as nodellm runs it on the CPU (the default model's
acceptance check: float32 logits within 1e-4 relative error, same tokens, same chat prompt).

    python3 scripts/default_model_parity.py MODEL_DIR [--work DIR] [--skip-prepare] [--result FILE]

Runs scripts/default-model-parity-prepare.ts (Node, nodellm's CPU engine) into --work unless
--skip-prepare, then loads MODEL_DIR with transformers (LlamaForCausalLM, eager attention, on the
CPU in float32, the acceptance reference, and float64, for scale), runs each sequence
teacher-forced and compares the engine's rows: relative error = max |engine - hf| / max |hf| per
row. It also encodes the same texts with transformers' tokenizer and renders the same chat with
its apply_chat_template. Exits 1 when anything disagrees or the error passes --max-rel.
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch
import transformers
from transformers import AutoTokenizer, LlamaForCausalLM


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model_dir")
    p.add_argument("--work", default="/tmp/nodellm-default-parity")
    p.add_argument("--skip-prepare", action="store_true")
    p.add_argument("--result")
    p.add_argument("--max-rel", type=float, default=1e-4)
    a = p.parse_args()
    if not a.skip_prepare:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        subprocess.run(["npx", "tsx", "scripts/default-model-parity-prepare.ts", a.model_dir, a.work], cwd=root, check=True)
    manifest = json.load(open(os.path.join(a.work, "manifest.json")))
    vocab = manifest["vocab"]

    results, failures = [], []
    for dtype in (torch.float32, torch.float64):
        model = LlamaForCausalLM.from_pretrained(a.model_dir, dtype=dtype, attn_implementation="eager").eval()
        worst, total, rows, agree = 0.0, 0.0, 0, 0
        for seq in manifest["sequences"]:
            mine = np.fromfile(os.path.join(a.work, seq["logits_file"]), dtype=np.float32).reshape(-1, vocab)
            with torch.no_grad():
                ref_all = model(torch.tensor([seq["tokens"]])).logits[0].double().numpy()
            for row, pos in zip(mine, seq["positions"]):
                ref = ref_all[pos]
                err = float(np.abs(row - ref).max() / np.abs(ref).max())
                worst, total, rows = max(worst, err), total + err, rows + 1
                agree += int(np.argmax(row) == np.argmax(ref))
        name = str(dtype).split(".")[-1]
        results.append({"reference": f"transformers cpu {name}", "rows": rows, "worst_relative_logit_error": worst,
                        "mean_relative_logit_error": total / rows, "argmax_agreement": agree / rows})
        if dtype == torch.float32 and worst > a.max_rel:
            failures.append(f"worst relative logit error {worst:.2e} > {a.max_rel:.0e} against float32")
        del model

    tok = AutoTokenizer.from_pretrained(a.model_dir)
    for case in manifest["tokenizer"]:
        ids = tok(case["text"]).input_ids
        if ids != case["ids"]:
            failures.append(f"token ids differ for {case['text'][:40]!r}: nodellm {case['ids'][:12]}..., transformers {ids[:12]}...")
        if tok.decode(ids, skip_special_tokens=True) != case["decoded"]:
            failures.append(f"decoded text differs for {case['text'][:40]!r}")
    chat = manifest["chat"]
    rendered = tok.apply_chat_template(chat["messages"], tokenize=False, add_generation_prompt=True)
    if rendered != chat["rendered"]:
        failures.append(f"chat prompts differ:\n  nodellm      {chat['rendered']!r}\n  transformers {rendered!r}")

    report = {"model_dir": a.model_dir, "transformers": transformers.__version__, "torch": torch.__version__,
              "logits": results, "tokenizer_texts": len(manifest["tokenizer"]), "chat_rendered": chat["rendered"],
              "failures": failures}
    if a.result:
        json.dump(report, open(a.result, "w"), indent=2)
    print(f"{'reference':26} {'rows':>5} {'worst rel':>10} {'mean rel':>10} {'argmax':>7}")
    for r in results:
        print(f"{r['reference']:26} {r['rows']:5d} {r['worst_relative_logit_error']:10.2e} "
              f"{r['mean_relative_logit_error']:10.2e} {r['argmax_agreement']:7.3f}")
    print(f"tokenizer: {len(manifest['tokenizer'])} texts encoded and decoded; chat template rendered")
    for f in failures:
        print("FAIL:", f)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
