// Small pieces the parsers of guest and file input share: a nesting bound checked before JSON is
// parsed, SHA-256 in hex, addresses in hex.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "goldgate/common/json_text.h"

namespace goldgate::hostmon {

/// JSON nesting depth before nlohmann's recursive parser sees hostile text: goldgate/common/json_text.h.
using goldgate::jsonDepthWithin;

/// Lower-case hex SHA-256 of `data` ("" if OpenSSL fails). Any thread.
std::string sha256HexOf(std::span<const uint8_t> data);

/// "0x…" in lower-case hex.
std::string hexAddress(uint64_t v);

}  // namespace goldgate::hostmon
