// Small pieces the parsers of guest and file input share: a nesting bound checked before JSON is
// parsed, SHA-256 in hex, addresses in hex.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace goldgate::hostmon {

/// False when JSON text `s` nests arrays or objects deeper than `maxDepth` (strings and their
/// escapes are skipped). nlohmann's parser recurses once per level, so hostile text of a million
/// '[' must be refused before it is parsed. Any thread.
bool jsonDepthWithin(std::string_view s, size_t maxDepth);

/// Lower-case hex SHA-256 of `data` ("" if OpenSSL fails). Any thread.
std::string sha256HexOf(std::span<const uint8_t> data);

/// "0x…" in lower-case hex.
std::string hexAddress(uint64_t v);

}  // namespace goldgate::hostmon
