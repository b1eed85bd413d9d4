#include "model/decoder.h"

#include <cmath>

#include "backend/half.h"
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

// Dummy weights: norms that scale by about 1 (w near 1, or near 0 for (1 + w) norms), biases
// small, matrices with variance 1 / fan_in.
void fill_dummy(Backend& backend, const Tensor& part, const std::string& name, bool vector, float norm_offset) {
  if (!vector) {
    backend.fill_random(part, name_seed(name), 1.0f / std::sqrt(static_cast<float>(part.cols)), 0.0f);
  } else if (name.find("norm") != std::string::npos) {
    backend.fill_random(part, name_seed(name), 0.05f, 1.0f - norm_offset);
  } else {
    backend.fill_random(part, name_seed(name), 0.02f, 0.0f);
  }
}
}  // namespace

static DType requested_dtype(ModelConfig::Dtype d, DType checkpoint) {
  switch (d) {
    case ModelConfig::Dtype::F32: return DType::F32;
    case ModelConfig::Dtype::F16: return DType::F16;
    case ModelConfig::Dtype::BF16: return DType::BF16;
    default: return checkpoint;
  }
}

// Loads one or several checkpoint tensors stacked along rows into one backend tensor. Each name
// is [rows[i], cols], or a vector of rows[i] when cols is 0.
Tensor DecoderModel::load(const WeightSource& w, const std::vector<std::string>& names,
                        const std::vector<int64_t>& rows, int64_t cols) {
  const bool vector = cols == 0;
  std::vector<CheckpointView> views;
  int64_t total_rows = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    views.push_back(w.get(names[i], vector ? std::vector<int64_t>{rows[i]}
                                           : std::vector<int64_t>{rows[i], cols}));
    total_rows += rows[i];
  }
  // Vectors (norms, biases) are stored as a single row. DTYPE, where set, replaces the
  // checkpoint's dtype (upload() converts).
  const DType dtype = backend_.weight_dtype(requested_dtype(config_.dtype, views[0].dtype));
  Tensor t = vector ? backend_.alloc(dtype, 1, total_rows) : backend_.alloc(dtype, total_rows, cols);
  int64_t at = 0;
  for (size_t i = 0; i < views.size(); ++i) {
    Tensor part = vector ? t.col_slice(at, rows[i]) : t.row_slice(at, rows[i]);
    if (views[i].data) backend_.upload(part, views[i].data, views[i].dtype);
    else fill_dummy(backend_, part, names[i], vector, config_.norm_weight_offset);
    at += rows[i];
  }
  owned_.push_back(t);
  return t;
}

// The backend's layout of a linear weight (the tensor `loaded` stays as it is).
LinearWeight DecoderModel::prepare(const Tensor& loaded) {
  LinearWeight w = backend_.prepare_linear(loaded);
  if (w.data.data != loaded.data) owned_.push_back(w.data);
  return w;
}

// Loads a linear weight and keeps only the backend's layout of it.
LinearWeight DecoderModel::load_linear(const WeightSource& w, const std::vector<std::string>& names,
                                     const std::vector<int64_t>& rows, int64_t cols) {
  const Tensor loaded = load(w, names, rows, cols);
  owned_.pop_back();  // load() registered it; from here it is either prepared's data or released
  LinearWeight prepared = backend_.prepare_linear(loaded);
  owned_.push_back(prepared.data);
  if (prepared.data.data != loaded.data) backend_.release(loaded);
  return prepared;
}

DecoderModel::DecoderModel(Backend& backend, const ModelConfig& config, const WeightSource& w,
                           int max_positions)
    : backend_(backend), config_(config) {
  validate(config_);
  const ModelConfig& c = config_;
  if (c.dtype == ModelConfig::Dtype::F32 && backend_.weight_dtype(DType::F32) != DType::F32)
    fail("DTYPE float32: the ", backend_.name(), " backend computes in 16-bit floats; use bfloat16 or float16");
  const int64_t hidden = c.hidden_size, q = c.q_dim(), kv = c.kv_dim(), inter = c.intermediate_size,
                vocab = c.vocab_size, head = c.head_dim;

  embed_ = load(w, {"model.embed_tokens.weight"}, {vocab}, hidden);
  activation_dtype_ = embed_.dtype;
  embedding_scale_ = in_activation_dtype(c.embedding_scale);
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    Layer l;
    auto vector = [&](const char* suffix, int64_t n) { return load(w, {layer_name(i, suffix)}, {n}, 0); };
    l.input_norm = vector("input_layernorm.weight", hidden);
    l.qkv = load_linear(w,
                        {layer_name(i, "self_attn.q_proj.weight"), layer_name(i, "self_attn.k_proj.weight"),
                         layer_name(i, "self_attn.v_proj.weight")},
                        {q, kv, kv}, hidden);
    if (c.qkv_bias) {
      l.qkv_bias = load(w,
                        {layer_name(i, "self_attn.q_proj.bias"), layer_name(i, "self_attn.k_proj.bias"),
                         layer_name(i, "self_attn.v_proj.bias")},
                        {q, kv, kv}, 0);
    }
    if (c.qk_norm) {
      l.q_norm = vector("self_attn.q_norm.weight", head);
      l.k_norm = vector("self_attn.k_norm.weight", head);
    }
    l.o = load_linear(w, {layer_name(i, "self_attn.o_proj.weight")}, {hidden}, q);
    if (c.o_bias) l.o_bias = vector("self_attn.o_proj.bias", hidden);
    // Gemma's post_attention_layernorm norms the attention's output; in the other families it is
    // the norm before the MLP.
    if (c.sandwich_norms) {
      l.post_attn_norm = vector("post_attention_layernorm.weight", hidden);
      l.pre_mlp_norm = vector("pre_feedforward_layernorm.weight", hidden);
      l.post_mlp_norm = vector("post_feedforward_layernorm.weight", hidden);
    } else {
      l.pre_mlp_norm = vector("post_attention_layernorm.weight", hidden);
    }
    l.gate_up = load_linear(w, {layer_name(i, "mlp.gate_proj.weight"), layer_name(i, "mlp.up_proj.weight")},
                            {inter, inter}, hidden);
    l.down = load_linear(w, {layer_name(i, "mlp.down_proj.weight")}, {hidden}, inter);
    if (c.mlp_bias) {
      l.gate_up_bias = load(w, {layer_name(i, "mlp.gate_proj.bias"), layer_name(i, "mlp.up_proj.bias")},
                            {inter, inter}, 0);
      l.down_bias = vector("mlp.down_proj.bias", hidden);
    }
    layers_.push_back(l);
  }
  final_norm_ = load(w, {"model.norm.weight"}, {hidden}, 0);
  // Tied embeddings: the LM head is prepared from the embedding table, which stays as it is for
  // the embedding lookup.
  lm_head_ = c.tie_word_embeddings ? prepare(embed_) : load_linear(w, {"lm_head.weight"}, {vocab}, hidden);

  rope_table_ = rope_table(c.rope, max_positions);
  if (c.has_local_rope) local_rope_table_ = rope_table(c.local_rope, max_positions);
}

Tensor DecoderModel::rope_table(const RopeFrequencies& rope, int max_positions) {
  const int rotary = config_.rotary();
  std::vector<float> table = rope_cos_sin_table(rope, rotary, max_positions);
  Tensor t = backend_.alloc(DType::F32, max_positions, rotary);
  backend_.upload(t, table.data(), DType::F32);
  owned_.push_back(t);
  return t;
}

float DecoderModel::in_activation_dtype(float x) {
  if (activation_dtype_ == DType::F32 || x == 1.0f) return x;
  Tensor t = backend_.alloc(activation_dtype_, 1, 1);
  backend_.upload(t, &x, DType::F32);
  uint16_t bits = 0;
  backend_.download(&bits, t);
  backend_.release(t);
  return activation_dtype_ == DType::BF16 ? bf16_to_f32(bits) : f16_to_f32(bits);
}

DecoderModel::~DecoderModel() {
  for (const Tensor& t : owned_) backend_.release(t);
}

Activations DecoderModel::alloc_activations(int max_tokens) {
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

void DecoderModel::free_activations(const Activations& a) {
  for (const Tensor* t : {&a.residual, &a.normed, &a.qkv, &a.attn, &a.proj, &a.gate_up, &a.act})
    backend_.release(*t);
}

static const Tensor* optional(const Tensor& t) { return t.data ? &t : nullptr; }

void DecoderModel::forward(const ForwardInputs& in, const Activations& a, const std::vector<KvCache>& caches) {
  const ModelConfig& c = config_;
  const float offset = c.norm_weight_offset, eps = c.rms_norm_eps;
  const int64_t n = in.token_ids.rows;
  const Tensor residual = a.residual.first_rows(n), normed = a.normed.first_rows(n),
               qkv = a.qkv.first_rows(n), attn = a.attn.first_rows(n),
               proj = a.proj.first_rows(n), gate_up = a.gate_up.first_rows(n),
               act = a.act.first_rows(n);
  const Tensor q = qkv.col_slice(0, c.q_dim()), k = qkv.col_slice(c.q_dim(), c.kv_dim()),
               v = qkv.col_slice(c.q_dim() + c.kv_dim(), c.kv_dim());
  // With sandwich norms a sublayer's output is normed before it joins the residual stream, into
  // the gate/up buffer: it is free after the attention and again after the down projection.
  const Tensor post = c.sandwich_norms ? gate_up.col_slice(0, c.hidden_size) : Tensor{};
  AttentionBatch attention = in.attention;
  attention.scale = c.attention_scale > 0 ? c.attention_scale : 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  attention.softcap = c.attn_logit_softcap;

  backend_.embedding(residual, embed_, in.token_ids, embedding_scale_);
  const Tensor* carry = nullptr;  // the last sublayer's output, added to the residual stream next
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& l = layers_[i];
    // The residual stream: the previous layer's output is added here, fused with the norm.
    if (carry == nullptr) {
      backend_.rmsnorm(normed, residual, l.input_norm, eps, offset);
    } else {
      backend_.add_rmsnorm(residual, *carry, normed, l.input_norm, eps, offset);
    }
    attention.sliding_window = c.window(static_cast<int>(i));
    const Tensor& table = c.has_local_rope && attention.sliding_window > 0 ? local_rope_table_ : rope_table_;
    if (c.qk_norm) {
      backend_.linear(qkv, normed, l.qkv, optional(l.qkv_bias));
      backend_.head_rmsnorm(q, l.q_norm, c.head_dim, eps, offset);
      backend_.head_rmsnorm(k, l.k_norm, c.head_dim, eps, offset);
      backend_.rope_kv_write(q, k, v, in.positions, table, c.head_dim, caches[i].k, caches[i].v, in.slot_mapping);
    } else {
      const RopeKvWrite rope{in.positions, table, c.head_dim, c.num_attention_heads, c.num_key_value_heads,
                             caches[i].k, caches[i].v, in.slot_mapping};
      backend_.linear_rope_kv_write(qkv, normed, l.qkv, optional(l.qkv_bias), q, k, v, rope);
    }
    backend_.paged_attention(attn, q, caches[i].k, caches[i].v, attention);
    backend_.linear(proj, attn, l.o, optional(l.o_bias));
    carry = &proj;
    if (c.sandwich_norms) {
      backend_.rmsnorm(post, proj, l.post_attn_norm, eps, offset);
      carry = &post;
    }
    backend_.add_rmsnorm(residual, *carry, normed, l.pre_mlp_norm, eps, offset);
    if (c.activation == Activation::Silu) {
      backend_.linear_silu_mul(act, normed, l.gate_up, optional(l.gate_up_bias), gate_up);
    } else {
      backend_.linear(gate_up, normed, l.gate_up, optional(l.gate_up_bias));
      backend_.gelu_tanh_mul(act, gate_up);
    }
    backend_.linear(proj, act, l.down, optional(l.down_bias));
    carry = &proj;
    if (c.sandwich_norms) {
      backend_.rmsnorm(post, proj, l.post_mlp_norm, eps, offset);
      carry = &post;
    }
  }
  backend_.add_rmsnorm(residual, *carry, normed, final_norm_, eps, offset);
}

void DecoderModel::lm_head(const Tensor& logits, const Tensor& hidden) {
  backend_.linear(logits, hidden, lm_head_, nullptr);
  if (config_.final_logit_softcap > 0) backend_.softcap(logits, config_.final_logit_softcap);
}

}  // namespace nodellm
