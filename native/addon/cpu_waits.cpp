#include "cpu_waits.h"

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "../cpu/queue.h"
#include "errors.h"

namespace dit::addon {

namespace {

struct PendingWait {
  Napi::Promise::Deferred deferred;
  Napi::ObjectReference keep;
  std::string error;
};

// One per JavaScript environment (the main thread and each worker that loads the addon).
class CpuWaits {
 public:
  static std::shared_ptr<CpuWaits> of(Napi::Env env) {
    std::lock_guard<std::mutex> lock(registry_mu());
    auto it = registry().find(napi_env(env));
    if (it != registry().end()) return it->second;
    // registered only once its thread-safe function exists (Tsfn::New throws into JavaScript)
    auto made = std::make_shared<CpuWaits>();
    made->tsfn_ = Tsfn::New(env, "dit-native:cpu-wait", 0, 1, made.get(), finalized, static_cast<void*>(nullptr));
    made->tsfn_.Unref(env);  // only pending waits keep the event loop alive
    registry().emplace(napi_env(env), made);
    return made;
  }

  Napi::Promise start(Napi::Env env, Napi::Value keep, std::function<void()> write, const std::shared_ptr<CpuWaits>& self) {
    auto* wait = new PendingWait{Napi::Promise::Deferred::New(env), {}, {}};
    if (keep.IsObject()) wait->keep = Napi::Persistent(keep.As<Napi::Object>());
    Napi::Promise promise = wait->deferred.Promise();
    if (pending_++ == 0) tsfn_.Ref(env);
    if (write) {
      // under mu_: the environment's teardown (finalized) waits for a write in progress, and none
      // starts after it
      cpu::enqueue([self, write = std::move(write)] {
        std::lock_guard<std::mutex> lock(self->mu_);
        if (self->open_) write();
      });
    }
    cpu::fence_then([self, wait](std::string error) {
      wait->error = std::move(error);
      std::lock_guard<std::mutex> lock(self->mu_);
      // the environment is gone (a worker terminated, the process exiting): nobody can observe the
      // promise, and its references belong to a dead environment, so it is left as it is
      if (self->open_) self->tsfn_.NonBlockingCall(wait);
    });
    return promise;
  }

 private:
  static void settle(Napi::Env env, Napi::Function, CpuWaits* self, PendingWait* wait) {
    if (env == nullptr) return;  // torn down with calls still queued (see above)
    std::unique_ptr<PendingWait> owned(wait);
    try {
      // first: a throw below must not leave the event loop held open
      if (--self->pending_ == 0) self->tsfn_.Unref(env);
      if (wait->error.empty()) wait->deferred.Resolve(env.Undefined());
      else wait->deferred.Reject(DitError(env, "ERR_DIT_NATIVE", wait->error).Value());
    } catch (const Napi::Error&) {
      // the environment is going away (a worker terminated while this wait was queued): nobody
      // can observe the promise any more, and an exception escaping here would abort the process
    }
  }
  using Tsfn = Napi::TypedThreadSafeFunction<CpuWaits, PendingWait, settle>;

  // The thread-safe function is being torn down with its environment (a worker terminated, the
  // process exiting), before the environment's memory is freed: from here on the executor must
  // neither call it nor write into the environment's typed arrays. Under mu_, so a call or a
  // write in progress finishes first.
  static void finalized(Napi::Env env, void*, CpuWaits* context) {
    std::shared_ptr<CpuWaits> self;  // released last, after the lock
    {
      std::lock_guard<std::mutex> lock(registry_mu());
      auto it = registry().find(napi_env(env));
      if (it != registry().end() && it->second.get() == context) {
        self = std::move(it->second);
        registry().erase(it);
      }
    }
    std::lock_guard<std::mutex> lock(context->mu_);
    context->open_ = false;
  }

  static std::mutex& registry_mu() {
    static std::mutex* mu = new std::mutex();  // leaked: finalizers may run during static destruction
    return *mu;
  }
  static std::unordered_map<napi_env, std::shared_ptr<CpuWaits>>& registry() {
    static auto* map = new std::unordered_map<napi_env, std::shared_ptr<CpuWaits>>();
    return *map;
  }

  std::mutex mu_;
  bool open_ = true;  // under mu_: the executor may call tsfn_
  Tsfn tsfn_;
  size_t pending_ = 0;  // JavaScript thread only
};

}  // namespace

Napi::Promise settle_after_cpu_queue(Napi::Env env, Napi::Value keep, std::function<void()> write_into_keep) {
  std::shared_ptr<CpuWaits> waits = CpuWaits::of(env);
  return waits->start(env, keep, std::move(write_into_keep), waits);
}

}  // namespace dit::addon
