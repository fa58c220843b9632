// Reading JSON text as characters before it is parsed: nesting depth (a parser that recurses once
// per level must not see hostile text a million '[' deep) and where one object of a stream ends.
#pragma once

#include <cstddef>
#include <string_view>

namespace goldgate {

/// Follows JSON text one character at a time: strings and their escapes are skipped.
struct JsonTextScan {
  bool in_string = false, escaped = false;
  /// +1 for an opening '[' or '{' outside strings, -1 for a closing one, 0 otherwise.
  int step(char c) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      return 0;
    }
    if (c == '"') in_string = true;
    else if (c == '[' || c == '{') return 1;
    else if (c == ']' || c == '}') return -1;
    return 0;
  }
};

/// False when JSON text `s` nests arrays or objects deeper than `maxDepth`. Any thread.
inline bool jsonDepthWithin(std::string_view s, size_t maxDepth) {
  JsonTextScan scan;
  size_t depth = 0;
  for (char c : s) {
    const int d = scan.step(c);
    if (d > 0 && ++depth > maxDepth) return false;
    if (d < 0 && depth > 0) --depth;
  }
  return true;
}

}  // namespace goldgate
