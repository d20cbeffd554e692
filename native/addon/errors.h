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


}  // namespace dit::addon
