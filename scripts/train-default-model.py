"""Trains nodellm's embedded default model: a small Llama on the Brown Corpus.

    npx tsx scripts/extract-brown-corpus.ts            # here: writes .device/corpus/brown.jsonl
    python3 scripts/train-default-model.py --corpus .device/corpus/brown.jsonl --out OUT_DIR --device cuda

Steps: a byte-level BPE tokenizer (Llama 3's special tokens, BOS added by the post-processor) on
the training documents; a LlamaForCausalLM-shaped model written here in plain PyTorch, trained on
random windows of the documents joined with end-of-text tokens; the held-out perplexity of the
weights as shipped (rounded to bfloat16, evaluated in float32); an HF model directory, flat (six
files: config.json, generation_config.json, model.safetensors, tokenizer.json,
tokenizer_config.json, training.json).

Splits: the corpus JSONL marks 5% of documents "heldout" (scripts/brown-corpus.ts decides which);
they are used only for the final perplexity. Every 20th training document is set aside as a
validation set, evaluated during training to keep the best checkpoint: a small model overfits a
million words within a few dozen epochs, and the GPU run is one shot, so the step count need not
be guessed exactly.

Reproducibility: the tokenizer is deterministic (same documents in the same order); training is
seeded (weights, dropout, windows) and runs with torch's deterministic algorithms where CUDA has
them, so a re-run on the same GPU model, driver and torch version gives the same weights. Another
GPU or library version may differ in the last bits of each step, and so in the final weights.
"""
import argparse
import hashlib
import json
import math
import os
import time

# cuBLAS is deterministic only with a fixed workspace; this must be set before CUDA starts.
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

BOS, EOS, EOT = "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"
START_HEADER, END_HEADER = "<|start_header_id|>", "<|end_header_id|>"
SPECIAL_TOKENS = [BOS, EOS, START_HEADER, END_HEADER, EOT]  # ids 0..4

# Llama 3's chat format, plain enough for @huggingface/jinja (lib/chat renders it).
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + (message['content'] | trim) + '<|eot_id|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", default=".device/corpus/brown.jsonl")
    p.add_argument("--out", required=True, help="output directory (written flat)")
    p.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--steps", type=int, default=None,
                   help="training steps; default: run a probe of --probe-steps first and train "
                        "--probe-factor times the step where its validation loss was lowest")
    p.add_argument("--probe-steps", type=int, default=2000)
    p.add_argument("--probe-factor", type=float, default=1.25)
    p.add_argument("--max-minutes", type=float, default=7.0,
                   help="stop training after this long since the start, keeping the best weights so far (recorded)")
    p.add_argument("--vocab", type=int, default=4096)
    p.add_argument("--layers", type=int, default=6)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--kv-heads", type=int, default=2)
    p.add_argument("--intermediate", type=int, default=704)
    p.add_argument("--context", type=int, default=512)
    p.add_argument("--rope-theta", type=float, default=10000.0)
    p.add_argument("--batch", type=int, default=64, help="sequences per step")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min-lr-ratio", type=float, default=0.1)
    p.add_argument("--warmup", type=int, default=60)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--dropout", type=float, default=0.1, help="training only; the saved model has none")
    p.add_argument("--eval-every", type=int, default=25)
    p.add_argument("--chat-fraction", type=float, default=0.05,
                   help="extra chat-formatted examples (a paragraph as the user turn, the next as the answer), "
                        "as a fraction of the training documents' paragraphs")
    p.add_argument("--samples", type=int, default=4, help="greedy samples printed and recorded")
    return p.parse_args()


# --------------------------------------------------------------------------------------------
# Data


def read_corpus(path):
    docs = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    held = [d for d in docs if d["split"] == "heldout"]
    rest = [d for d in docs if d["split"] == "train"]
    val = rest[::20]
    train = [d for i, d in enumerate(rest) if i % 20 != 0]
    return train, val, held


def train_tokenizer(texts, vocab_size):
    tok = Tokenizer(models.BPE())
    # GPT-2's byte-level split (words with their leading space, digits, punctuation runs): every
    # byte sequence is representable, so there is no unknown token.
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    bos_id = tok.token_to_id(BOS)
    # As Llama 3: byte-level offsets, then BOS before each sequence when special tokens are added.
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=f"{BOS} $A", pair=f"{BOS} $A {BOS}:1 $B:1", special_tokens=[(BOS, bos_id)]),
    ])
    return tok


def encode_docs(tok, texts):
    """Each text as BOS + tokens + end-of-text, the shape every training window is cut from."""
    eos = tok.token_to_id(EOS)
    return [enc.ids + [eos] for enc in tok.encode_batch(texts, add_special_tokens=True)]


def chat_examples(train_docs, fraction, rng):
    """A paragraph as the user's turn and the next paragraph as the assistant's: chat requests
    then get text that continues the user's and ends with <|eot_id|>, as a chat model's would."""
    pairs = []
    for d in train_docs:
        paras = [p for p in d["text"].split("\n") if p.strip()]
        pairs += list(zip(paras, paras[1:]))
    pick = torch.randperm(len(pairs), generator=rng)[: int(len(pairs) * fraction)].sort().values
    return [
        f"{START_HEADER}user{END_HEADER}\n\n{pairs[i][0].strip()}{EOT}"
        f"{START_HEADER}assistant{END_HEADER}\n\n{pairs[i][1].strip()}{EOT}"
        for i in pick.tolist()
    ]


# --------------------------------------------------------------------------------------------
# Model: HF Llama's computation and parameter names, so the state dict saves as is.


class RMSNorm(torch.nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(x.dtype)


def rotate_half(x):
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


class Attention(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        h = c["hidden_size"]
        self.q_proj = torch.nn.Linear(h, self.heads * self.head_dim, bias=False)
        self.k_proj = torch.nn.Linear(h, self.kv_heads * self.head_dim, bias=False)
        self.v_proj = torch.nn.Linear(h, self.kv_heads * self.head_dim, bias=False)
        self.o_proj = torch.nn.Linear(self.heads * self.head_dim, h, bias=False)

    def forward(self, x, cos, sin, dropout):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        # Neox-style rotary embedding (halves, not interleaved pairs): what HF's Llama computes.
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # Query head i reads KV head i // (heads / kv_heads), as HF's repeat_kv arranges them.
        rep = self.heads // self.kv_heads
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=dropout)
        return self.o_proj(y.transpose(1, 2).reshape(b, t, -1))


class MLP(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        h, i = c["hidden_size"], c["intermediate_size"]
        self.gate_proj = torch.nn.Linear(h, i, bias=False)
        self.up_proj = torch.nn.Linear(h, i, bias=False)
        self.down_proj = torch.nn.Linear(i, h, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])
        self.mlp = MLP(c)

    def forward(self, x, cos, sin, dropout):
        x = x + F.dropout(self.self_attn(self.input_layernorm(x), cos, sin, dropout), dropout, self.training)
        return x + F.dropout(self.mlp(self.post_attention_layernorm(x)), dropout, self.training)


class Backbone(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = torch.nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.layers = torch.nn.ModuleList(Layer(c) for _ in range(c["num_hidden_layers"]))
        self.norm = RMSNorm(c["hidden_size"], c["rms_norm_eps"])


class Llama(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.model = Backbone(c)
        self.dropout = 0.0
        d = c["head_dim"]
        inv_freq = 1.0 / (c["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
        freqs = torch.outer(torch.arange(c["max_position_embeddings"], dtype=torch.float32), inv_freq)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)
        self.init_weights(c["num_hidden_layers"])

    def init_weights(self, layers):
        # Normal(0, 0.02) everywhere; the projections that write into the residual stream are
        # scaled down by sqrt(2 * layers) so its variance does not grow with depth at the start.
        for name, p in self.named_parameters():
            if name.endswith("layernorm.weight") or name == "model.norm.weight":
                continue
            std = 0.02 / math.sqrt(2 * layers) if name.endswith(("o_proj.weight", "down_proj.weight")) else 0.02
            torch.nn.init.normal_(p, mean=0.0, std=std)

    def forward(self, ids):
        t = ids.shape[1]
        cos, sin = self.cos[:t].to(self.model.embed_tokens.weight.dtype), self.sin[:t].to(self.model.embed_tokens.weight.dtype)
        x = self.model.embed_tokens(ids)
        drop = self.dropout if self.training else 0.0
        for layer in self.model.layers:
            x = layer(x, cos, sin, drop)
        # Tied embeddings: the output projection is the embedding matrix.
        return self.model.norm(x) @ self.model.embed_tokens.weight.t()


# --------------------------------------------------------------------------------------------
# Training and evaluation


def lr_at(step, steps, a):
    """Linear warmup, then cosine decay to min_lr_ratio * lr at the last step."""
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    progress = (step - a.warmup) / max(1, steps - a.warmup)
    return a.lr * (a.min_lr_ratio + (1 - a.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def windows(stream, context):
    """Non-overlapping windows covering the whole stream (the last one shorter): every token
    but the first of each window is predicted once."""
    return [stream[i:i + context] for i in range(0, len(stream) - 1, context) if len(stream[i:i + context]) > 1]


@torch.no_grad()
def mean_nll(model, stream, context, device, batch, autocast):
    """Mean next-token negative log-likelihood (nats) over the stream, and the count."""
    model.eval()
    total, count = 0.0, 0
    ws = windows(stream, context)
    for i in range(0, len(ws), batch):
        group = ws[i:i + batch]
        width = max(len(w) for w in group)
        ids = torch.full((len(group), width), 0, dtype=torch.long)
        mask = torch.zeros((len(group), width), dtype=torch.bool)
        for j, w in enumerate(group):
            ids[j, :len(w)] = torch.tensor(w)
            mask[j, :len(w)] = True
        ids, mask = ids.to(device), mask.to(device)
        with autocast():
            logits = model(ids[:, :-1])
        nll = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none")
        keep = mask[:, 1:].reshape(-1)
        total += float(nll[keep].double().sum())
        count += int(keep.sum())
    model.train()
    return total / count, count


@torch.no_grad()
def greedy(model, tok, text, new_tokens, device):
    model.eval()
    ids = tok.encode(text).ids  # BOS added by the post-processor, as nodellm's completions do
    prompt_len = len(ids)
    stop = {tok.token_to_id(EOS), tok.token_to_id(EOT)}
    for _ in range(new_tokens):
        logits = model(torch.tensor([ids[-model.cos.shape[0]:]], device=device))
        nxt = int(logits[0, -1].argmax())
        if nxt in stop:
            break
        ids.append(nxt)
    model.train()
    return tok.decode(ids[prompt_len:])


def opening(text, words=8):
    """The first words of a document's first real sentence paragraph (not a headline or a dash
    line); test/e2e/default-model.test.ts picks its prompts the same way."""
    paras = [p for p in text.split("\n") if len(p.split(" ")) >= 15 and (p[0].isupper() or p[0] == '"')]
    return " ".join((paras[0] if paras else text).split(" ")[:words])


def train_run(a, cfg, steps, train_stream, val_stream, device, autocast, deadline, label):
    """Trains a fresh model for `steps` steps (cosine schedule over them) and returns it with the
    weights of its best validation loss. Seeded from --seed alone, so a run of N steps is the same
    whether or not a probe ran before it."""
    torch.manual_seed(a.seed)
    if device.type == "cuda":
        torch.cuda.manual_seed_all(a.seed)
    windows_rng = torch.Generator().manual_seed(a.seed + 1)
    model = Llama(cfg).to(device)
    model.dropout = a.dropout
    vocab = cfg["vocab_size"]
    # Weight decay on matrices only, not on norm gains.
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8, fused=device.type == "cuda")
    n_params = sum(p.numel() for p in model.parameters())
    print(f"{label}: {n_params} parameters, {cfg['num_hidden_layers']} layers, hidden {cfg['hidden_size']}, "
          f"{cfg['num_attention_heads']} heads / {cfg['num_key_value_heads']} KV heads, {steps} steps", flush=True)
    t0 = time.time()
    best_loss, best_step, best_state = float("inf"), 0, None
    recent, history, stopped_early, step = [], [], False, 0
    span = a.context + 1
    for step in range(1, steps + 1):
        starts = torch.randint(0, len(train_stream) - span, (a.batch,), generator=windows_rng)
        batch = torch.stack([train_stream[s:s + span] for s in starts.tolist()]).to(device, non_blocking=True)
        lr = lr_at(step - 1, steps, a)
        for group in opt.param_groups:
            group["lr"] = lr
        with autocast():
            logits = model(batch[:, :-1])
        loss = F.cross_entropy(logits.float().reshape(-1, vocab), batch[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 5 == 0 or step == steps:  # .item() waits for the GPU: not every step
            recent = (recent + [loss.item()])[-20:]
        out_of_time = time.time() > deadline
        if step % a.eval_every == 0 or step == steps or out_of_time:
            val_loss, _ = mean_nll(model, val_stream, a.context, device, a.batch, autocast)
            history.append({"step": step, "train_loss": loss.item(), "val_loss": val_loss, "lr": lr})
            if val_loss < best_loss:
                best_loss, best_step = val_loss, step
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            print(f"{label} step {step:5d}  train {loss.item():.4f}  val {val_loss:.4f}  lr {lr:.2e}  "
                  f"{(time.time() - t0) / step * 1000:.1f} ms/step", flush=True)
        if out_of_time:
            stopped_early = True
            print(f"{label}: stopping at step {step}, out of time (--max-minutes {a.max_minutes})", flush=True)
            break
    seconds = time.time() - t0
    model.load_state_dict(best_state)
    return {"model": model, "steps": steps, "steps_done": step, "stopped_early": stopped_early,
            "best_step": best_step, "best_loss": best_loss, "final_train_loss": sum(recent) / max(1, len(recent)),
            "seconds": round(seconds, 1), "tokens_per_second": round(step * a.batch * a.context / seconds),
            "history": history}


def main():
    a = parse_args()
    t_start = time.time()
    torch.manual_seed(a.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    device = torch.device(a.device)
    if a.device == "cuda":
        torch.cuda.manual_seed_all(a.seed)
    cuda = a.device == "cuda"

    train_docs, val_docs, held_docs = read_corpus(a.corpus)
    tok = train_tokenizer([d["text"] for d in train_docs], a.vocab)
    vocab = tok.get_vocab_size(with_added_tokens=True)
    assert vocab == a.vocab, f"tokenizer has {vocab} tokens, asked for {a.vocab}"
    ids = {name: tok.token_to_id(t) for name, t in [("bos", BOS), ("eos", EOS), ("eot", EOT)]}

    rng = torch.Generator().manual_seed(a.seed)
    train_texts = [d["text"] for d in train_docs] + chat_examples(train_docs, a.chat_fraction, rng)
    train_stream = torch.tensor([t for doc in encode_docs(tok, train_texts) for t in doc], dtype=torch.long)
    val_stream = [t for doc in encode_docs(tok, [d["text"] for d in val_docs]) for t in doc]
    held_stream = [t for doc in encode_docs(tok, [d["text"] for d in held_docs]) for t in doc]
    print(f"tokenizer: {vocab} tokens; train {len(train_stream)} tokens ({len(train_docs)} docs + chat), "
          f"validation {len(val_stream)}, held out {len(held_stream)}", flush=True)

    cfg = {
        "vocab_size": vocab, "hidden_size": a.hidden, "intermediate_size": a.intermediate,
        "num_hidden_layers": a.layers, "num_attention_heads": a.heads, "num_key_value_heads": a.kv_heads,
        "head_dim": a.hidden // a.heads, "max_position_embeddings": a.context, "rope_theta": a.rope_theta,
        "rope_scaling": None, "rms_norm_eps": 1e-5, "tie_word_embeddings": True,
        "attention_bias": False, "attention_dropout": 0.0, "mlp_bias": False,
        "bos_token_id": ids["bos"], "eos_token_id": [ids["eos"], ids["eot"]],
    }
    def autocast():
        return torch.autocast("cuda", dtype=torch.bfloat16) if cuda else torch.autocast("cpu", enabled=False)

    deadline = t_start + a.max_minutes * 60
    probe = None
    steps = a.steps
    if steps is None:
        # The probe: a long schedule, to see where validation loss stops falling. It gets at most
        # half the time cap, so the final run always has time.
        probe = train_run(a, cfg, a.probe_steps, train_stream, val_stream, device, autocast,
                          time.time() + (deadline - time.time()) / 2, "probe")
        steps = max(2 * a.warmup, round(a.probe_factor * probe["best_step"]))
        print(f"probe: validation loss lowest at step {probe['best_step']} ({probe['best_loss']:.4f}); "
              f"training {steps} steps", flush=True)
    run = train_run(a, cfg, steps, train_stream, val_stream, device, autocast, deadline, "final")
    model, n_params = run["model"], sum(p.numel() for p in run["model"].parameters())

    # Evaluate what ships: weights rounded to bfloat16, computed in float32 as nodellm's CPU does.
    torch.backends.cuda.matmul.allow_tf32 = False
    model.float()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).float())
    no_autocast = lambda: torch.autocast(a.device, enabled=False)
    held_loss, held_count = mean_nll(model, held_stream, a.context, device, a.batch, no_autocast)
    val_loss, _ = mean_nll(model, val_stream, a.context, device, a.batch, no_autocast)
    held_bytes = sum(len(d["text"].encode("utf-8")) for d in held_docs)
    held_words = sum(len(d["text"].split()) for d in held_docs)
    samples = []
    for d in held_docs[:: max(1, len(held_docs) // a.samples)][: a.samples]:
        prompt = opening(d["text"])
        samples.append({"prompt": prompt, "greedy": greedy(model, tok, prompt, 48, device)})
    print(f"best step {run['best_step']} (validation loss {run['best_loss']:.4f}); held-out loss {held_loss:.4f}, "
          f"perplexity {math.exp(held_loss):.2f} over {held_count} tokens (vocabulary {vocab})", flush=True)
    for s in samples:
        print(f"  {s['prompt']!r} -> {s['greedy']!r}", flush=True)

    os.makedirs(a.out, exist_ok=True)
    write_model(a.out, model, cfg, tok)
    summary = lambda r: {k: v for k, v in r.items() if k not in ("model", "history")}
    report = {
        "seed": a.seed, "args": vars(a), "probe": summary(probe) if probe else None,
        "steps": steps, "steps_done": run["steps_done"], "stopped_early": run["stopped_early"],
        "best_step": run["best_step"], "train_seconds": run["seconds"],
        "elapsed_seconds": round(time.time() - t_start, 1),
        "tokens_per_second": run["tokens_per_second"],
        "final_train_loss": run["final_train_loss"], "validation_loss": val_loss,
        "heldout_loss": held_loss, "heldout_perplexity": math.exp(held_loss),
        "heldout_bits_per_byte": held_loss * held_count / held_bytes / math.log(2),
        "heldout_word_perplexity": math.exp(held_loss * held_count / held_words),
        "vocab_size": vocab, "parameters": n_params,
        "tokens": {"train": len(train_stream), "validation": len(val_stream), "heldout": len(held_stream),
                   "heldout_predicted": held_count, "seen_in_training": run["steps_done"] * a.batch * a.context},
        "documents": {"train": len(train_docs), "validation": len(val_docs), "heldout": len(held_docs),
                      "heldout_ids": [d["id"] for d in held_docs]},
        "corpus_sha256": hashlib.sha256(open(a.corpus, "rb").read()).hexdigest(),
        "samples": samples, "history": {"probe": probe["history"] if probe else [], "final": run["history"]},
        "versions": {"torch": torch.__version__, "tokenizers": __import__("tokenizers").__version__,
                     "device": torch.cuda.get_device_name() if cuda else "cpu"},
    }
    json.dump(report, open(os.path.join(a.out, "training.json"), "w"), indent=2)
    print(f"wrote {a.out} in {time.time() - t_start:.0f} s", flush=True)


def write_model(out, model, cfg, tok):
    config = {**cfg, "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
              "initializer_range": 0.02, "use_cache": True, "torch_dtype": "bfloat16"}
    json.dump(dict(sorted(config.items())), open(os.path.join(out, "config.json"), "w"), indent=2)
    json.dump({"bos_token_id": cfg["bos_token_id"], "eos_token_id": cfg["eos_token_id"]},
              open(os.path.join(out, "generation_config.json"), "w"), indent=2)
    tensors = {k: v.detach().to("cpu", torch.bfloat16).contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    tok.save(os.path.join(out, "tokenizer.json"))
    json.dump({
        # A base model: a document ends with <|end_of_text|>; a chat turn ends with <|eot_id|>, the
        # other EOS id in generation_config.json.
        "bos_token": BOS, "eos_token": EOS,
        "add_bos_token": True, "add_eos_token": False, "clean_up_tokenization_spaces": False,
        "model_max_length": cfg["max_position_embeddings"], "tokenizer_class": "PreTrainedTokenizerFast",
        "chat_template": CHAT_TEMPLATE,
    }, open(os.path.join(out, "tokenizer_config.json"), "w"), indent=2)


if __name__ == "__main__":
    main()
