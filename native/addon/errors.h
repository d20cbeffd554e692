// Errors cross into JS as Error objects with a stable `code`; lib/ turns them into DitError.
#pragma once
#include <napi.h>

#include <stdexcept>
#include <string>

namespace dit::addon {

inline Napi::Error DitError(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

// Runs fn; a std::exception from the native layers becomes an ERR_DIT_NATIVE error carrying its
// message (after `prefix`). Errors already meant for JS pass through.
template <typename Fn>
auto native_call(Napi::Env env, Fn&& fn, const char* prefix = "") -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw DitError(env, "ERR_DIT_NATIVE", std::string(prefix) + e.what());
  }
}

}  // namespace dit::addon
