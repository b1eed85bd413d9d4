// Entry point of the N-API addon: the Engine class and the testing hooks.
#include <napi.h>

#include "addon/engine_wrap.h"
#include "addon/testing.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Engine", nodellm::EngineWrap::Define(env));
  Napi::Object testing = Napi::Object::New(env);
  testing.Set("sampleLogits", Napi::Function::New<nodellm::SampleLogits>(env, "sampleLogits"));
  exports.Set("testing", testing);
  return exports;
}

NODE_API_MODULE(nodellm, Init)
