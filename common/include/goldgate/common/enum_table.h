// Descriptor tables indexed by an enum: one row per value, in the enum's order, so a value's row is
// found by indexing. `rowsInEnumOrder(rows, &Row::id)` checks that at compile time, in a
// static_assert beside the table.
#pragma once

#include <cstddef>

namespace goldgate {

template <typename Row, std::size_t N, typename Id>
constexpr bool rowsInEnumOrder(const Row (&rows)[N], Id Row::*id) {
  for (std::size_t i = 0; i < N; ++i)
    if (static_cast<std::size_t>(rows[i].*id) != i) return false;
  return true;
}

}  // namespace goldgate
