// libFuzzer target: data class files. Any input gives a class or a "file:line: reason" error,
// never a crash; a class that parses either compiles or is refused with file:line too.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "goldgate/datapolicy/classes.h"
#include "goldgate/datapolicy/engine.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 8192) return 0;
  std::string text(reinterpret_cast<const char*>(data), size);
  auto c = goldgate::datapolicy::parseClass(text, "fuzz.yaml");
  if (!c) {
    if (c.error().message.rfind("fuzz.yaml:", 0) != 0) std::abort();
    return 0;
  }
  c->has_exact_match = false;  // no files behind it here
  auto built = goldgate::datapolicy::Classifier::build({*c});
  if (!built && built.error().message.rfind("fuzz.yaml:", 0) != 0) std::abort();
  return 0;
}
