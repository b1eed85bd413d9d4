#include "model/llama.h"

#include <cmath>

#include "model/rope_table.h"

namespace nodellm {

namespace {
std::string layer_name(int i, const char* suffix) {
  return "model.layers." + std::to_string(i) + "." + suffix;
}

// FNV-1a: a stable seed per tensor name for dummy weights.
uint64_t name_seed(const std::string& name) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Dummy weights: norms near 1, biases small, matrices with variance 1 / fan_in.
void fill_dummy(Backend& backend, const Tensor& part, const std::string& name, bool vector) {
  if (!vector) {
    backend.fill_random(part, name_seed(name), 1.0f / std::sqrt(static_cast<float>(part.cols)), 0.0f);
  } else if (name.find("norm") != std::string::npos) {
    backend.fill_random(part, name_seed(name), 0.05f, 1.0f);
  } else {
    backend.fill_random(part, name_seed(name), 0.02f, 0.0f);
  }
}
}  // namespace

// Loads one or several checkpoint tensors stacked along rows into one backend tensor. Each name
// is [rows[i], cols], or a vector of rows[i] when cols is 0.
Tensor LlamaModel::load(const WeightSource& w, const std::vector<std::string>& names,
                        const std::vector<int64_t>& rows, int64_t cols) {
  const bool vector = cols == 0;
  std::vector<CheckpointView> views;
  int64_t total_rows = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    views.push_back(w.get(names[i], vector ? std::vector<int64_t>{rows[i]}
                                           : std::vector<int64_t>{rows[i], cols}));
    total_rows += rows[i];
  }
  // Vectors (norms, biases) are stored as a single row.
  const DType dtype = backend_.weight_dtype(views[0].dtype);
  Tensor t = vector ? backend_.alloc(dtype, 1, total_rows) : backend_.alloc(dtype, total_rows, cols);
  int64_t at = 0;
  for (size_t i = 0; i < views.size(); ++i) {
    Tensor part = vector ? t.col_slice(at, rows[i]) : t.row_slice(at, rows[i]);
    if (views[i].data) backend_.upload(part, views[i].data, views[i].dtype);
    else fill_dummy(backend_, part, names[i], vector);
    at += rows[i];
  }
  owned_.push_back(t);
  return t;
}

// The backend's layout of a linear weight (the tensor `loaded` stays as it is).
LinearWeight LlamaModel::prepare(const Tensor& loaded) {
  LinearWeight w = backend_.prepare_linear(loaded);
  if (w.data.data != loaded.data) owned_.push_back(w.data);
  return w;
}

// Loads a linear weight and keeps only the backend's layout of it.
LinearWeight LlamaModel::load_linear(const WeightSource& w, const std::vector<std::string>& names,
                                     const std::vector<int64_t>& rows, int64_t cols) {
  const Tensor loaded = load(w, names, rows, cols);
  owned_.pop_back();  // load() registered it; from here it is either prepared's data or released
  LinearWeight prepared = backend_.prepare_linear(loaded);
  owned_.push_back(prepared.data);
  if (prepared.data.data != loaded.data) backend_.release(loaded);
  return prepared;
}

LlamaModel::LlamaModel(Backend& backend, const ModelConfig& config, const WeightSource& w,
                       int max_positions)
    : backend_(backend), config_(config) {
  validate(config_);
  const ModelConfig& c = config_;
  const int64_t hidden = c.hidden_size, q = c.q_dim(), kv = c.kv_dim(),
                inter = c.intermediate_size, vocab = c.vocab_size;

  embed_ = load(w, {"model.embed_tokens.weight"}, {vocab}, hidden);
  activation_dtype_ = embed_.dtype;
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    Layer l;
    l.input_norm = load(w, {layer_name(i, "input_layernorm.weight")}, {hidden}, 0);
    l.qkv = load_linear(w,
                 {layer_name(i, "self_attn.q_proj.weight"), layer_name(i, "self_attn.k_proj.weight"),
                  layer_name(i, "self_attn.v_proj.weight")},
                 {q, kv, kv}, hidden);
    l.o = load_linear(w, {layer_name(i, "self_attn.o_proj.weight")}, {hidden}, q);
    if (c.attention_bias) {
      l.qkv_bias = load(w,
                        {layer_name(i, "self_attn.q_proj.bias"), layer_name(i, "self_attn.k_proj.bias"),
                         layer_name(i, "self_attn.v_proj.bias")},
                        {q, kv, kv}, 0);
      l.o_bias = load(w, {layer_name(i, "self_attn.o_proj.bias")}, {hidden}, 0);
    }
    l.post_norm = load(w, {layer_name(i, "post_attention_layernorm.weight")}, {hidden}, 0);
    l.gate_up = load_linear(w, {layer_name(i, "mlp.gate_proj.weight"), layer_name(i, "mlp.up_proj.weight")},
                     {inter, inter}, hidden);
    l.down = load_linear(w, {layer_name(i, "mlp.down_proj.weight")}, {hidden}, inter);
    if (c.mlp_bias) {
      l.gate_up_bias = load(w, {layer_name(i, "mlp.gate_proj.bias"), layer_name(i, "mlp.up_proj.bias")},
                            {inter, inter}, 0);
      l.down_bias = load(w, {layer_name(i, "mlp.down_proj.bias")}, {hidden}, 0);
    }
    layers_.push_back(l);
  }
  final_norm_ = load(w, {"model.norm.weight"}, {hidden}, 0);
  // Tied embeddings: the LM head is prepared from the embedding table, which stays as it is for
  // the embedding lookup.
  lm_head_ = c.tie_word_embeddings ? prepare(embed_) : load_linear(w, {"lm_head.weight"}, {vocab}, hidden);

  std::vector<float> table = rope_cos_sin_table(c, max_positions);
  rope_table_ = backend_.alloc(DType::F32, max_positions, c.head_dim);
  backend_.upload(rope_table_, table.data(), DType::F32);
  owned_.push_back(rope_table_);
}

LlamaModel::~LlamaModel() {
  for (const Tensor& t : owned_) backend_.release(t);
}

Activations LlamaModel::alloc_activations(int max_tokens) {
  const ModelConfig& c = config_;
  const DType t = activation_dtype_;
  Activations a;
  a.residual = backend_.alloc(DType::F32, max_tokens, c.hidden_size);
  a.normed = backend_.alloc(t, max_tokens, c.hidden_size);
  a.qkv = backend_.alloc(t, max_tokens, c.q_dim() + 2 * c.kv_dim());
  a.attn = backend_.alloc(t, max_tokens, c.q_dim());
  a.proj = backend_.alloc(t, max_tokens, c.hidden_size);
  a.gate_up = backend_.alloc(t, max_tokens, 2 * c.intermediate_size);
  a.act = backend_.alloc(t, max_tokens, c.intermediate_size);
  return a;
}

void LlamaModel::free_activations(const Activations& a) {
  for (const Tensor* t : {&a.residual, &a.normed, &a.qkv, &a.attn, &a.proj, &a.gate_up, &a.act})
    backend_.release(*t);
}

static const Tensor* optional(const Tensor& t) { return t.data ? &t : nullptr; }

void LlamaModel::forward(const ForwardInputs& in, const Activations& a,
                         const std::vector<KvCache>& caches) {
  const ModelConfig& c = config_;
  const int64_t n = in.token_ids.rows;
  const Tensor residual = a.residual.first_rows(n), normed = a.normed.first_rows(n),
               qkv = a.qkv.first_rows(n), attn = a.attn.first_rows(n),
               proj = a.proj.first_rows(n), gate_up = a.gate_up.first_rows(n),
               act = a.act.first_rows(n);
  const Tensor q = qkv.col_slice(0, c.q_dim()), k = qkv.col_slice(c.q_dim(), c.kv_dim()),
               v = qkv.col_slice(c.q_dim() + c.kv_dim(), c.kv_dim());

  backend_.embedding(residual, embed_, in.token_ids);
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    // The residual stream: the previous layer's MLP output is added here, fused with the norm.
    if (i == 0) {
      backend_.rmsnorm(normed, residual, l.input_norm, c.rms_norm_eps);
    } else {
      backend_.add_rmsnorm(residual, proj, normed, l.input_norm, c.rms_norm_eps);
    }
    const RopeKvWrite rope{in.positions, rope_table_, c.head_dim, c.num_attention_heads, c.num_key_value_heads,
                           caches[i].k, caches[i].v, in.slot_mapping};
    backend_.linear_rope_kv_write(qkv, normed, l.qkv, optional(l.qkv_bias), q, k, v, rope);
    backend_.paged_attention(attn, q, caches[i].k, caches[i].v, in.attention);
    backend_.linear(proj, attn, l.o, optional(l.o_bias));
    backend_.add_rmsnorm(residual, proj, normed, l.post_norm, c.rms_norm_eps);
    backend_.linear_silu_mul(act, normed, l.gate_up, optional(l.gate_up_bias), gate_up);
    backend_.linear(proj, act, l.down, optional(l.down_bias));
  }
  backend_.add_rmsnorm(residual, proj, normed, final_norm_, c.rms_norm_eps);
}

void LlamaModel::lm_head(const Tensor& logits, const Tensor& hidden) {
  backend_.linear(logits, hidden, lm_head_, nullptr);
}

}  // namespace nodellm
