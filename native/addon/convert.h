// Conversions from JS values to the native core's structs. Every read names the field it reads,
// so a malformed object from TypeScript produces an error that says which field is wrong.
#pragma once
#include <napi.h>

#include "engine/engine.h"

namespace nodellm {

EngineConfig engine_config_from_js(const Napi::Object& config);
SamplingParams sampling_params_from_js(const Napi::Object& params);
std::vector<int32_t> int32_list_from_js(const Napi::Value& value, const char* field);

}  // namespace nodellm
