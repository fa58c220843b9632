// libFuzzer target: libvirt domain XML as goldgate-hostmon reads it (virDomainGetXMLDesc output,
// which a guest's owner partly controls through names, metadata and device paths). Any input must
// give a DomainInfo or a clean error; a parsed document must satisfy the parser's promises.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "domain_xml.h"

using namespace goldgate;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto r = hostmon::parseDomainXml(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!r) {
    if (r.error().message.empty()) std::abort();
    return 0;
  }
  if (r->name.empty() || r->uuid.size() != 36) std::abort();
  for (const auto& n : r->nics)
    if (!n.mac.empty() && n.mac.size() != 17) std::abort();
  return 0;
}
