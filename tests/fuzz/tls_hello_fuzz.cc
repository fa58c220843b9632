// libFuzzer target: the ClientHello reader over arbitrary bytes. Holds: no crash or sanitizer
// report; a hello read whole has a printable server name; the fingerprint is always made.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "goldgate/datapolicy/tls_hello.h"

using namespace goldgate::datapolicy;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  TlsClientHello h;
  std::string why;
  if (parseClientHello(data, size, &h, &why) == TlsHelloParse::kHello) {
    for (char c : h.sni)
      if (c < 0x21 || c > 0x7e) std::abort();
    if (ja4Fingerprint(h).size() != 36) std::abort();
  }
  return 0;
}
