// The JS class `Engine` over LLMEngine. Loading and stepping run on libuv's worker threads
// (AsyncWorker) and resolve promises, so the event loop never waits on the model. Requests are
// added and aborted between steps only; TypeScript queues them while a step is in flight.
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>

#include "engine/engine.h"

namespace nodellm {

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit EngineWrap(const Napi::CallbackInfo& info);

 private:
  friend class LoadWorker;
  friend class StepWorker;

  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value AddRequest(const Napi::CallbackInfo& info);
  Napi::Value Abort(const Napi::CallbackInfo& info);
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value HasWork(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  LLMEngine& engine(const char* call);
  void require_idle(const char* call) const;

  EngineConfig config_;
  std::unique_ptr<LLMEngine> engine_;
  std::atomic<bool> busy_{false};  // a load or step is running on a worker thread
};

}  // namespace nodellm
