#include "addon/step_result.h"

#include <cstring>

namespace nodellm {

namespace {

Napi::Float64Array ids_array(Napi::Env env, const std::vector<int64_t>& ids) {
  Napi::Float64Array a = Napi::Float64Array::New(env, ids.size());
  for (size_t i = 0; i < ids.size(); ++i) a[i] = static_cast<double>(ids[i]);
  return a;
}

}  // namespace

Napi::Object stats_to_js(Napi::Env env, const EngineStats& s, const LLMEngine& engine) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("numRunning", s.num_running);
  out.Set("numWaiting", s.num_waiting);
  out.Set("numFreeBlocks", s.num_free_blocks);
  out.Set("numBlocks", s.num_blocks);
  out.Set("blockSize", s.block_size);
  out.Set("totalPreemptions", static_cast<double>(s.total_preemptions));
  out.Set("backend", engine.backend_name());
  out.Set("backendNote", engine.backend_note());
  return out;
}

Napi::Object step_output_to_js(Napi::Env env, const StepOutput& out) {
  Napi::Object js = Napi::Object::New(env);
  js.Set("seqIds", ids_array(env, out.seq_ids));
  js.Set("tokens", typed_array<Napi::Int32Array>(env, out.tokens));
  js.Set("finishReasons", typed_array<Napi::Uint8Array>(env, out.finish_reasons));
  const SamplingResult& r = out.sampled.result;
  js.Set("logprobs", typed_array<Napi::Float32Array>(env, r.logprobs));
  js.Set("topK", r.top_k);
  js.Set("topIds", typed_array<Napi::Int32Array>(env, r.top_ids));
  js.Set("topLogprobs", typed_array<Napi::Float32Array>(env, r.top_logprobs));
  if (!out.sampled.logits.empty()) js.Set("logits", typed_array<Napi::Float32Array>(env, out.sampled.logits));
  const PromptLogprobRows& p = out.prompt_logprobs;
  if (!p.seq_ids.empty()) {
    Napi::Object pl = Napi::Object::New(env);
    pl.Set("seqIds", ids_array(env, p.seq_ids));
    pl.Set("positions", typed_array<Napi::Int32Array>(env, p.positions));
    pl.Set("tokens", typed_array<Napi::Int32Array>(env, p.tokens));
    pl.Set("logprobs", typed_array<Napi::Float32Array>(env, p.logprobs));
    pl.Set("topK", p.top_k);
    pl.Set("topIds", typed_array<Napi::Int32Array>(env, p.top_ids));
    pl.Set("topLogprobs", typed_array<Napi::Float32Array>(env, p.top_logprobs));
    js.Set("promptLogprobs", pl);
  }
  js.Set("numScheduledTokens", out.num_scheduled_tokens);
  js.Set("numPreempted", out.num_preempted);
  js.Set("idleBeforeLaunchMs", out.idle_before_launch_ms);
  js.Set("launchToResultMs", out.launch_to_result_ms);
  js.Set("prepareMs", out.prepare_ms);
  return js;
}

}  // namespace nodellm
