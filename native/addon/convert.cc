#include "addon/convert.h"

#include <cmath>

namespace nodellm {

namespace {

Napi::Value field(const Napi::Object& obj, const char* name) { return obj.Get(name); }

double number(const Napi::Object& obj, const char* name) {
  Napi::Value v = field(obj, name);
  if (!v.IsNumber()) fail("expected a number for ", name);
  return v.As<Napi::Number>().DoubleValue();
}

double number_or(const Napi::Object& obj, const char* name, double fallback) {
  Napi::Value v = field(obj, name);
  return v.IsUndefined() || v.IsNull() ? fallback : number(obj, name);
}

int integer(const Napi::Object& obj, const char* name) {
  double d = number(obj, name);
  if (d != std::floor(d) || std::abs(d) > 2147483647.0) fail("expected an integer for ", name);
  return static_cast<int>(d);
}

int integer_or(const Napi::Object& obj, const char* name, int fallback) {
  Napi::Value v = field(obj, name);
  return v.IsUndefined() || v.IsNull() ? fallback : integer(obj, name);
}

bool boolean_or(const Napi::Object& obj, const char* name, bool fallback) {
  Napi::Value v = field(obj, name);
  if (v.IsUndefined() || v.IsNull()) return fallback;
  if (!v.IsBoolean()) fail("expected a boolean for ", name);
  return v.As<Napi::Boolean>().Value();
}

std::string string(const Napi::Object& obj, const char* name) {
  Napi::Value v = field(obj, name);
  if (!v.IsString()) fail("expected a string for ", name);
  return v.As<Napi::String>().Utf8Value();
}

Napi::Object object(const Napi::Object& obj, const char* name) {
  Napi::Value v = field(obj, name);
  if (!v.IsObject()) fail("expected an object for ", name);
  return v.As<Napi::Object>();
}

Napi::Array array(const Napi::Object& obj, const char* name) {
  Napi::Value v = field(obj, name);
  if (!v.IsArray()) fail("expected an array for ", name);
  return v.As<Napi::Array>();
}

std::vector<double> double_list(const Napi::Object& obj, const char* name) {
  std::vector<double> out;
  Napi::Value v = field(obj, name);
  if (v.IsUndefined() || v.IsNull()) return out;
  if (!v.IsArray()) fail("expected an array of numbers for ", name);
  Napi::Array a = v.As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value x = a.Get(i);
    if (!x.IsNumber()) fail("expected numbers in ", name);
    out.push_back(x.As<Napi::Number>().DoubleValue());
  }
  return out;
}

RopeFrequencies rope_from_js(const Napi::Object& r) {
  RopeFrequencies rope;
  rope.inv_freq = double_list(r, "invFreq");
  rope.theta = number_or(r, "theta", rope.theta);
  rope.attention_factor = number_or(r, "attentionFactor", 1.0);
  return rope;
}

// The native model config that lib/models/native-config.ts builds from the architecture table.
ModelConfig model_config_from_js(const Napi::Object& m) {
  ModelConfig c;
  c.architecture = string(m, "architecture");
  c.implementation = string(m, "implementation");
  c.vocab_size = integer(m, "vocabSize");
  c.hidden_size = integer(m, "hiddenSize");
  c.intermediate_size = integer(m, "intermediateSize");
  c.num_hidden_layers = integer(m, "numHiddenLayers");
  c.num_attention_heads = integer(m, "numAttentionHeads");
  c.num_key_value_heads = integer(m, "numKeyValueHeads");
  c.head_dim = integer(m, "headDim");
  c.rotary_dim = integer_or(m, "rotaryDim", 0);
  c.rms_norm_eps = static_cast<float>(number(m, "rmsNormEps"));
  c.norm_weight_offset = static_cast<float>(number_or(m, "normWeightOffset", 0.0));
  c.qkv_bias = boolean_or(m, "qkvBias", false);
  c.o_bias = boolean_or(m, "oBias", false);
  c.mlp_bias = boolean_or(m, "mlpBias", false);
  c.qk_norm = boolean_or(m, "qkNorm", false);
  c.sandwich_norms = boolean_or(m, "sandwichNorms", false);
  const std::string activation = string(m, "activation");
  if (activation == "silu") c.activation = Activation::Silu;
  else if (activation == "gelu_tanh") c.activation = Activation::GeluTanh;
  else fail("unsupported activation \"", activation, "\" (silu, gelu_tanh)");
  c.embedding_scale = static_cast<float>(number_or(m, "embeddingScale", 1.0));
  c.attention_scale = static_cast<float>(number_or(m, "attentionScale", 0.0));
  c.attn_logit_softcap = static_cast<float>(number_or(m, "attnLogitSoftcap", 0.0));
  c.final_logit_softcap = static_cast<float>(number_or(m, "finalLogitSoftcap", 0.0));
  for (double w : double_list(m, "layerWindows")) c.layer_windows.push_back(static_cast<int>(w));
  c.rope = rope_from_js(object(m, "rope"));
  Napi::Value local = field(m, "localRope");
  if (local.IsObject()) {
    c.has_local_rope = true;
    c.local_rope = rope_from_js(local.As<Napi::Object>());
  }
  c.max_position_embeddings = integer(m, "maxPositionEmbeddings");
  c.tie_word_embeddings = boolean_or(m, "tieWordEmbeddings", false);
  return c;
}

TensorInfo tensor_info_from_js(const Napi::Object& t) {
  TensorInfo info;
  info.name = string(t, "name");
  info.dtype = string(t, "dtype");
  Napi::Value source = field(t, "source");
  if (source.IsString()) info.source = source.As<Napi::String>().Utf8Value();
  Napi::Array shape = array(t, "shape");
  for (uint32_t i = 0; i < shape.Length(); ++i) {
    Napi::Value d = shape.Get(i);
    if (!d.IsNumber()) fail("expected numbers in the shape of ", info.name);
    info.shape.push_back(d.As<Napi::Number>().Int64Value());
  }
  info.file = integer(t, "file");
  info.offset = static_cast<int64_t>(number(t, "offset"));
  info.nbytes = static_cast<int64_t>(number(t, "nbytes"));
  return info;
}

}  // namespace

std::vector<int32_t> int32_list_from_js(const Napi::Value& value, const char* name) {
  std::vector<int32_t> out;
  if (value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
    Napi::Int32Array a = value.As<Napi::Int32Array>();
    out.assign(a.Data(), a.Data() + a.ElementLength());
  } else if (value.IsArray()) {
    Napi::Array a = value.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value v = a.Get(i);
      if (!v.IsNumber()) fail("expected integers in ", name);
      out.push_back(v.As<Napi::Number>().Int32Value());
    }
  } else if (!value.IsUndefined() && !value.IsNull()) {
    fail("expected an Int32Array or an array of integers for ", name);
  }
  return out;
}

EngineConfig engine_config_from_js(const Napi::Object& js) {
  EngineConfig c;
  c.model = model_config_from_js(object(js, "model"));
  Napi::Value run_dtype = field(js, "dtype");
  if (run_dtype.IsString()) {
    const std::string d = run_dtype.As<Napi::String>().Utf8Value();
    if (d == "auto") c.model.dtype = ModelConfig::Dtype::Auto;
    else if (d == "float32") c.model.dtype = ModelConfig::Dtype::F32;
    else if (d == "float16") c.model.dtype = ModelConfig::Dtype::F16;
    else if (d == "bfloat16") c.model.dtype = ModelConfig::Dtype::BF16;
    else fail("dtype must be auto, float32, float16 or bfloat16, got ", d);
  }
  Napi::Array files = array(js, "weightFiles");
  for (uint32_t i = 0; i < files.Length(); ++i) {
    Napi::Value f = files.Get(i);
    if (!f.IsString()) fail("expected strings in weightFiles");
    c.weight_files.push_back(f.As<Napi::String>().Utf8Value());
  }
  Napi::Array tensors = array(js, "tensors");
  for (uint32_t i = 0; i < tensors.Length(); ++i) {
    Napi::Value t = tensors.Get(i);
    if (!t.IsObject()) fail("expected objects in tensors");
    c.tensors.push_back(tensor_info_from_js(t.As<Napi::Object>()));
  }
  c.eos_token_ids = int32_list_from_js(field(js, "eosTokenIds"), "eosTokenIds");
  c.block_size = integer_or(js, "blockSize", c.block_size);
  c.num_blocks = integer_or(js, "numBlocks", c.num_blocks);
  c.kv_cache_bytes = static_cast<int64_t>(number_or(js, "kvCacheBytes", static_cast<double>(c.kv_cache_bytes)));
  c.gpu_memory_utilization = number_or(js, "gpuMemoryUtilization", c.gpu_memory_utilization);
  if (!(c.gpu_memory_utilization > 0.0 && c.gpu_memory_utilization <= 1.0))
    fail("gpuMemoryUtilization must be in (0, 1], got ", c.gpu_memory_utilization);
  c.max_num_seqs = integer_or(js, "maxNumSeqs", c.max_num_seqs);
  c.max_num_batched_tokens = integer_or(js, "maxNumBatchedTokens", c.max_num_batched_tokens);
  c.max_model_len = integer_or(js, "maxModelLen", c.max_model_len);
  c.max_logprobs = integer_or(js, "maxLogprobs", c.max_logprobs);
  c.num_threads = integer_or(js, "numThreads", c.num_threads);
  c.return_logits = boolean_or(js, "returnLogits", false);
  if (!field(js, "device").IsUndefined()) c.device = string(js, "device");
  c.enforce_eager = boolean_or(js, "enforceEager", false);
  c.max_seq_len_to_capture = integer_or(js, "maxSeqLenToCapture", c.max_seq_len_to_capture);
  c.batch_invariant = boolean_or(js, "batchInvariant", false);
  c.async_scheduling = boolean_or(js, "asyncScheduling", true);
  Napi::Value ahead = field(js, "launchAhead");
  if (ahead.IsBoolean()) c.launch_ahead = ahead.As<Napi::Boolean>().Value() ? 1 : 0;
  c.dummy_weights = boolean_or(js, "dummyWeights", false);
  if (c.dummy_weights) {
    const std::string dtype = string(js, "dummyDtype");  // what the dummy weights stand for
    if (dtype == "float32") c.dummy_dtype = DType::F32;
    else if (dtype == "float16") c.dummy_dtype = DType::F16;
    else if (dtype == "bfloat16") c.dummy_dtype = DType::BF16;
    else fail("dummyDtype must be float32, float16 or bfloat16, got ", dtype);
  }
  return c;
}

SamplingParams sampling_params_from_js(const Napi::Object& js) {
  SamplingParams p;
  p.temperature = static_cast<float>(number_or(js, "temperature", p.temperature));
  p.top_p = static_cast<float>(number_or(js, "topP", p.top_p));
  p.top_k = integer_or(js, "topK", p.top_k);
  p.min_p = static_cast<float>(number_or(js, "minP", p.min_p));
  p.repetition_penalty = static_cast<float>(number_or(js, "repetitionPenalty", p.repetition_penalty));
  p.frequency_penalty = static_cast<float>(number_or(js, "frequencyPenalty", p.frequency_penalty));
  p.presence_penalty = static_cast<float>(number_or(js, "presencePenalty", p.presence_penalty));
  p.max_tokens = integer_or(js, "maxTokens", p.max_tokens);
  p.min_tokens = integer_or(js, "minTokens", p.min_tokens);
  p.ignore_eos = boolean_or(js, "ignoreEos", false);
  p.logprobs = integer_or(js, "logprobs", p.logprobs);
  p.prompt_logprobs = integer_or(js, "promptLogprobs", p.prompt_logprobs);
  p.stop_token_ids = int32_list_from_js(field(js, "stopTokenIds"), "stopTokenIds");
  Napi::Value seed = field(js, "seed");
  if (seed.IsBigInt()) {
    bool lossless;
    p.seed = seed.As<Napi::BigInt>().Uint64Value(&lossless);
    p.has_seed = true;
  } else if (seed.IsNumber()) {
    p.seed = static_cast<uint64_t>(seed.As<Napi::Number>().Int64Value());
    p.has_seed = true;
  }
  Napi::Value bias = field(js, "logitBias");
  if (bias.IsArray()) {
    Napi::Array entries = bias.As<Napi::Array>();
    for (uint32_t i = 0; i < entries.Length(); ++i) {
      Napi::Value e = entries.Get(i);
      if (!e.IsArray() || e.As<Napi::Array>().Length() != 2) fail("expected [token, bias] pairs in logitBias");
      Napi::Array pair = e.As<Napi::Array>();
      p.logit_bias.emplace_back(pair.Get(0u).As<Napi::Number>().Int32Value(),
                                pair.Get(1u).As<Napi::Number>().FloatValue());
    }
  }
  return p;
}

}  // namespace nodellm
