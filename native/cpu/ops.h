// CPU implementations of the ops: one function per op, one file per op (native/cpu/<op>.cpp).
// Each runs on the CPU queue's executor thread and may use parallel_for.
#pragma once
#include "../common/op_params.h"

namespace dit::cpu {

DIT_OPS(DIT_DECLARE_OP)

}  // namespace dit::cpu
