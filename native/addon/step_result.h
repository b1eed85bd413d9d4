// A step's output as one JS object of typed arrays: no JS object per token crosses N-API.
#pragma once
#include <napi.h>

#include <cstring>

#include "engine/engine.h"

namespace nodellm {

Napi::Object step_output_to_js(Napi::Env env, const StepOutput& out);
Napi::Object stats_to_js(Napi::Env env, const EngineStats& stats, const LLMEngine& engine);

template <typename Array, typename T>
Array typed_array(Napi::Env env, const std::vector<T>& values) {
  Array a = Array::New(env, values.size());
  if (!values.empty()) std::memcpy(a.Data(), values.data(), values.size() * sizeof(T));
  return a;
}

}  // namespace nodellm
