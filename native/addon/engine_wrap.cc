#include "addon/engine_wrap.h"

#include <cstring>

#include "addon/convert.h"
#include "addon/step_result.h"

namespace nodellm {

namespace {

// Errors from native calls name the call that failed.
[[noreturn]] void throw_call_error(Napi::Env env, const char* call, const std::exception& e) {
  throw Napi::Error::New(env, std::string("nodellm Engine.") + call + ": " + e.what());
}

}  // namespace

// Builds the engine (maps the weights, loads them into the backend) off the event loop.
class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, EngineWrap* wrap)
      : Napi::AsyncWorker(env), wrap_(wrap), deferred_(Napi::Promise::Deferred::New(env)),
        self_(Napi::Persistent(wrap->Value())) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override { engine_ = std::make_unique<LLMEngine>(wrap_->config_); }
  void OnOK() override {
    wrap_->engine_ = std::move(engine_);
    wrap_->busy_ = false;
    deferred_.Resolve(Env().Undefined());
  }
  void OnError(const Napi::Error& e) override {
    wrap_->busy_ = false;
    deferred_.Reject(Napi::Error::New(Env(), std::string("nodellm Engine.load: ") + e.Message()).Value());
  }

 private:
  EngineWrap* wrap_;
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference self_;  // keeps the JS object alive while the worker runs
  std::unique_ptr<LLMEngine> engine_;
};

class StepWorker : public Napi::AsyncWorker {
 public:
  StepWorker(Napi::Env env, EngineWrap* wrap)
      : Napi::AsyncWorker(env), wrap_(wrap), deferred_(Napi::Promise::Deferred::New(env)),
        self_(Napi::Persistent(wrap->Value())) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override { output_ = wrap_->engine_->step(); }
  void OnOK() override {
    wrap_->busy_ = false;
    Napi::Object result = step_output_to_js(Env(), output_);
    result.Set("stats", stats_to_js(Env(), output_.stats, *wrap_->engine_));
    deferred_.Resolve(result);
  }
  void OnError(const Napi::Error& e) override {
    wrap_->busy_ = false;
    deferred_.Reject(Napi::Error::New(Env(), std::string("nodellm Engine.step: ") + e.Message()).Value());
  }

 private:
  EngineWrap* wrap_;
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference self_;
  StepOutput output_;
};

Napi::Function EngineWrap::Define(Napi::Env env) {
  return DefineClass(env, "Engine",
                     {InstanceMethod<&EngineWrap::Load>("load"),
                      InstanceMethod<&EngineWrap::AddRequest>("addRequest"),
                      InstanceMethod<&EngineWrap::Abort>("abort"),
                      InstanceMethod<&EngineWrap::Step>("step"),
                      InstanceMethod<&EngineWrap::Stats>("stats"),
                      InstanceMethod<&EngineWrap::HasWork>("hasWork"),
                      InstanceMethod<&EngineWrap::Close>("close")});
}

EngineWrap::EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
  if (info.Length() < 1 || !info[0].IsObject())
    throw Napi::TypeError::New(info.Env(), "nodellm Engine: expected a config object");
  try {
    config_ = engine_config_from_js(info[0].As<Napi::Object>());
  } catch (const Error& e) {
    throw_call_error(info.Env(), "constructor", e);
  }
}

void EngineWrap::require_idle(const char* call) const {
  if (busy_) fail("cannot ", call, " while a load or step is running; wait for it first");
}

LLMEngine& EngineWrap::engine(const char* call) {
  require_idle(call);
  if (!engine_) fail("the engine is not loaded (call load() first) or was closed");
  return *engine_;
}

Napi::Value EngineWrap::Load(const Napi::CallbackInfo& info) {
  try {
    require_idle("load");
    if (engine_) fail("the engine is already loaded");
  } catch (const Error& e) {
    throw_call_error(info.Env(), "load", e);
  }
  busy_ = true;
  auto* worker = new LoadWorker(info.Env(), this);
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Napi::Value EngineWrap::AddRequest(const Napi::CallbackInfo& info) {
  try {
    LLMEngine& e = engine("addRequest");
    if (info.Length() < 3 || !info[0].IsNumber() || !info[2].IsObject() ||
        (info.Length() > 3 && !info[3].IsNumber() && !info[3].IsUndefined()))
      fail("expected (id: number, promptTokenIds: Int32Array, params: object, group?: number)");
    const int64_t id = info[0].As<Napi::Number>().Int64Value();
    // Without a group, a sequence is a group of its own.
    const int64_t group = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int64Value() : id;
    e.add_request(id, int32_list_from_js(info[1], "promptTokenIds"), sampling_params_from_js(info[2].As<Napi::Object>()),
                  group);
  } catch (const Error& e) {
    throw_call_error(info.Env(), "addRequest", e);
  }
  return info.Env().Undefined();
}

Napi::Value EngineWrap::Abort(const Napi::CallbackInfo& info) {
  try {
    LLMEngine& e = engine("abort");
    if (info.Length() < 1 || !info[0].IsNumber()) fail("expected (id: number)");
    return Napi::Boolean::New(info.Env(), e.abort(info[0].As<Napi::Number>().Int64Value()));
  } catch (const Error& e) {
    throw_call_error(info.Env(), "abort", e);
  }
}

Napi::Value EngineWrap::Step(const Napi::CallbackInfo& info) {
  try {
    engine("step");
  } catch (const Error& e) {
    throw_call_error(info.Env(), "step", e);
  }
  busy_ = true;
  auto* worker = new StepWorker(info.Env(), this);
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Napi::Value EngineWrap::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    if (!engine_) fail("the engine is not loaded or was closed");
    // Counters are only changed by steps, which run one at a time; reading them while a step runs
    // would race, so stats() reports between steps like the other calls.
    require_idle("read stats");
    return stats_to_js(env, engine_->stats(), *engine_);
  } catch (const Error& e) {
    throw_call_error(env, "stats", e);
  }
}

Napi::Value EngineWrap::HasWork(const Napi::CallbackInfo& info) {
  try {
    return Napi::Boolean::New(info.Env(), engine("hasWork").has_work());
  } catch (const Error& e) {
    throw_call_error(info.Env(), "hasWork", e);
  }
}

Napi::Value EngineWrap::Close(const Napi::CallbackInfo& info) {
  try {
    require_idle("close");
  } catch (const Error& e) {
    throw_call_error(info.Env(), "close", e);
  }
  engine_.reset();
  return info.Env().Undefined();
}

}  // namespace nodellm
