// libFuzzer target: everything goldgate-hostmon parses from a guest (agent JSON replies, base64,
// /proc tables, the probe script's sectioned output). A guest's owner controls all of it. Any input
// must give a result or a clean error; results must keep the parsers' promises (bounds, pids).
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>

#include "agent_parse.h"

using namespace goldgate;
using namespace goldgate::hostmon;

namespace {

template <typename R>
void checkError(const R& r) {
  if (!r && r.error().message.empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  // The first byte picks the parser, so that one corpus covers them all.
  const uint8_t which = data[0];
  const std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  ProbeLimits lim;
  lim.max_processes = 64;  // small bounds reach the bound paths quickly
  lim.max_modules = 64;
  lim.max_listeners = 64;
  lim.max_line = 4096;
  switch (which % 9) {
    case 0: checkError(parseOsInfo(in, lim)); break;
    case 1: {
      auto r = parseInterfaces(in, lim);
      checkError(r);
      if (r && r->size() > lim.max_interfaces) std::abort();
      break;
    }
    case 2: {
      auto r = parseExecStarted(in, lim);
      checkError(r);
      if (r && *r <= 0) std::abort();
      break;
    }
    case 3: {
      auto r = parseExecStatus(in, lim);
      checkError(r);
      if (r && (r->out.size() > lim.max_output_bytes || r->err.size() > lim.max_output_bytes)) std::abort();
      break;
    }
    case 4: {
      auto r = decodeBase64(in, 1024);
      checkError(r);
      if (r && r->size() > 1024) std::abort();
      break;
    }
    case 5: {
      auto r = parseProcModules(in, lim);
      checkError(r);
      if (r && r->size() > lim.max_modules) std::abort();
      break;
    }
    case 6: {
      static const char* kTables[] = {"tcp", "tcp6", "udp", "udp6"};
      std::vector<GuestListener> others;
      auto r = parseProcNet(in, kTables[(which / 9) % 4], lim, &others);
      checkError(r);
      if (r && (r->size() > lim.max_listeners || others.size() > lim.max_listeners)) std::abort();
      break;
    }
    default: {
      // Hashes known from earlier polls, for executables the script did not hash this time.
      static const std::map<std::string, std::string> kKnown{{"2049:131:1982256:1795720000", std::string(64, 'a')}};
      auto r = parseProbeOutput(in, "abcdefgh12345678", lim, which & 0x80, (which & 0x40) ? &kKnown : nullptr);
      checkError(r);
      if (r && r->hashes_by_identity.size() > lim.max_processes) std::abort();
      if (r) {
        if (r->processes.size() > lim.max_processes) std::abort();
        for (const auto& p : r->processes)
          if (p.pid <= 0 || p.cmdline.size() > lim.max_cmdline || (!p.sha256.empty() && p.sha256.size() != 64))
            std::abort();
      }
      break;
    }
  }
  return 0;
}
