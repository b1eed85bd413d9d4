#pragma once
#include <napi.h>

namespace nodellm {

Napi::Value SampleLogits(const Napi::CallbackInfo& info);

}  // namespace nodellm
