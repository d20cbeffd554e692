#pragma once
#include <napi.h>

namespace dit::addon {
void RegisterOps(Napi::Env env, Napi::Object exports);
}
