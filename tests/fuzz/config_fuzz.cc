// libFuzzer target: configuration parsing (goldgate.yaml and segment files) must turn any input
// into a value or a "file:line: reason" error, never a crash or an uncaught exception.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "goldgate/dataplane/config.h"

using namespace goldgate::dataplane;

namespace {
const char* kValidSwitch = R"(ports:
  - {name: web, devargs: "net_null0", vm: web1, labels: {tier: web}, mac: "02:00:00:00:00:01", ips: [10.0.0.1]}
  - {name: up, devargs: "net_null1", role: uplink}
)";
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  // Input "A\x00B": A is goldgate.yaml, B a segment file. Without a separator both get the input.
  auto cut = in.find('\0');
  std::string sw = cut == std::string::npos ? in : in.substr(0, cut);
  std::string seg = cut == std::string::npos ? in : in.substr(cut + 1);
  auto parsed = parseSwitchConfig(sw, "fuzz.yaml");
  if (!parsed && parsed.error().message.rfind("fuzz.yaml:", 0) != 0) std::abort();  // errors name the file
  auto base = parsed ? *parsed : *parseSwitchConfig(kValidSwitch, "base.yaml");
  auto segs = parseSegments({{"seg.yaml", seg}}, base);
  if (!segs && segs.error().message.find(".yaml:") == std::string::npos) std::abort();
  return 0;
}
