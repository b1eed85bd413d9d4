// Testing hooks: the CPU sampler on logits given from JS, so tests can check sampling against
// the exact filtered distribution without a model in between.
#include "addon/testing.h"

#include <cstring>

#include "addon/convert.h"
#include "addon/step_result.h"
#include "engine/sampling_inputs.h"

namespace nodellm {

namespace {

double number_or(const Napi::Object& o, const char* name, double fallback) {
  Napi::Value v = o.Get(name);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : fallback;
}

}  // namespace

// sampleLogits(logits: Float32Array, vocab: number, rows: SamplingRowJs[]) -> { tokens, logprobs }
Napi::Value SampleLogits(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsTypedArray() || !info[1].IsNumber() || !info[2].IsArray())
    throw Napi::TypeError::New(env, "sampleLogits(logits: Float32Array, vocab: number, rows: object[])");
  Napi::Float32Array logits = info[0].As<Napi::Float32Array>();
  const int vocab = info[1].As<Napi::Number>().Int32Value();
  Napi::Array rows = info[2].As<Napi::Array>();
  const int n = static_cast<int>(rows.Length());
  if (vocab <= 0 || logits.ElementLength() != static_cast<size_t>(n) * vocab)
    throw Napi::RangeError::New(env, "sampleLogits: logits must hold rows.length * vocab values");

  static std::unique_ptr<Backend> backend = make_cpu_backend(2);
  SamplingInputs inputs(*backend, n, 20);
  std::vector<std::vector<int32_t>> histories(n);
  std::vector<std::vector<std::pair<int32_t, float>>> biases(n);
  for (int i = 0; i < n; ++i) {
    Napi::Object o = rows.Get(i).As<Napi::Object>();
    SamplingRow r;
    r.temperature = static_cast<float>(number_or(o, "temperature", 1.0));
    r.top_k = static_cast<int>(number_or(o, "topK", 0));
    r.top_p = static_cast<float>(number_or(o, "topP", 1.0));
    r.min_p = static_cast<float>(number_or(o, "minP", 0.0));
    r.repetition_penalty = static_cast<float>(number_or(o, "repetitionPenalty", 1.0));
    r.frequency_penalty = static_cast<float>(number_or(o, "frequencyPenalty", 0.0));
    r.presence_penalty = static_cast<float>(number_or(o, "presencePenalty", 0.0));
    r.seed = static_cast<uint64_t>(number_or(o, "seed", 0));
    r.output_pos = static_cast<int>(number_or(o, "outputPos", 0));
    r.num_logprobs = static_cast<int>(number_or(o, "logprobs", -1));
    histories[i] = int32_list_from_js(o.Get("history"), "history");
    r.history = histories[i].data();
    r.history_len = static_cast<int>(histories[i].size());
    r.prompt_len = static_cast<int>(number_or(o, "promptLen", 0));
    Napi::Value bias = o.Get("logitBias");
    if (bias.IsArray()) {
      Napi::Array pairs = bias.As<Napi::Array>();
      for (uint32_t j = 0; j < pairs.Length(); ++j) {
        Napi::Array pair = pairs.Get(j).As<Napi::Array>();
        biases[i].emplace_back(pair.Get(0u).As<Napi::Number>().Int32Value(),
                               pair.Get(1u).As<Napi::Number>().FloatValue());
      }
    }
    r.logit_bias = &biases[i];
    inputs.add(r);
  }
  Tensor t = backend->alloc(DType::F32, n, vocab);
  backend->upload(t, logits.Data(), DType::F32);
  SamplingResult result = inputs.sample(t);
  backend->release(t);

  Napi::Object out = Napi::Object::New(env);
  out.Set("tokens", typed_array<Napi::Int32Array>(env, result.tokens));
  out.Set("logprobs", typed_array<Napi::Float32Array>(env, result.logprobs));
  out.Set("topK", result.top_k);
  out.Set("topIds", typed_array<Napi::Int32Array>(env, result.top_ids));
  out.Set("topLogprobs", typed_array<Napi::Float32Array>(env, result.top_logprobs));
  return out;
}

}  // namespace nodellm
