// The CUDA emulator's stand-in: the f16 / bf16 types live in its cuda_runtime.h.
#pragma once
#include "cuda_runtime.h"
