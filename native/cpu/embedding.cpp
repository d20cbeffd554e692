// Label embedding lookup: out[b, :] = table[ids[b], :] (ids validated in range by lib/).
#include <cstring>
#include <stdexcept>

#include "ops.h"

namespace dit::cpu {

void embedding(const EmbeddingParams& p) {
  const size_t row = size_t(p.D) * dtype_size(p.dtype);
  for (int64_t b = 0; b < p.B; b++)
    if (p.ids[b] < 0 || p.ids[b] >= p.rows) throw std::out_of_range("embedding: label " + std::to_string(p.ids[b]) + " out of range");
  for (int64_t b = 0; b < p.B; b++)
    std::memcpy(static_cast<char*>(p.out) + b * row, static_cast<const char*>(p.table) + p.ids[b] * row, row);
}

}  // namespace dit::cpu
