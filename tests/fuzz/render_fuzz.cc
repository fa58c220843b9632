// libFuzzer target: alert renderers with hostile field contents. Every record must stay one line,
// keep its header structure (CEF 7 separators, LEEF 6), and RFC 5424 must respect its length cap.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include <google/protobuf/stubs/logging.h>

#include "goldgate/alerts/render.h"

using namespace goldgate;
using namespace goldgate::alerts;

namespace {
// Position of the n-th (1-based) '|' that is not backslash-escaped, or npos.
size_t nthPipe(const std::string& s, int n) {
  bool esc = false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (esc) {
      esc = false;
      continue;
    }
    if (s[i] == '\\') esc = true;
    else if (s[i] == '|' && --n == 0) return i;
  }
  return std::string::npos;
}
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);  // invalid UTF-8 is expected here; protobuf would log each
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4 || size > 4096) return 0;
  // Fields separated by NUL bytes, in a fixed order.
  std::vector<std::string> f;
  std::string cur;
  for (size_t i = 4; i < size; ++i) {
    if (data[i] == 0) f.push_back(cur), cur.clear();
    else cur += static_cast<char>(data[i]);
  }
  f.push_back(cur);
  f.resize(18);
  proto::AlertEvent ev;
  ev.set_id(f[0]);
  ev.set_host(f[1]);
  ev.set_source(f[2]);
  ev.set_kind(f[3]);
  ev.set_message(f[4]);
  ev.set_vm(f[5]);
  ev.set_rule(f[6]);
  ev.set_segment(f[7]);
  ev.set_action(f[8]);
  ev.set_severity(data[0] % 16);
  ev.set_time_unix_ns(static_cast<int64_t>(data[1]) * 1000000007LL * 1000);
  if (!f[9].empty()) {
    ev.mutable_flow()->set_src_ip(f[9]);
    ev.mutable_flow()->set_dst_ip(f[10]);
    ev.mutable_flow()->set_community_id(f[11]);
    ev.mutable_flow()->set_protocol(data[2]);
  }
  if (data[3] & 1) {  // a data-class finding (masked sample and class name are hostile too)
    ev.mutable_data_class()->set_name(f[12]);
    ev.mutable_data_class()->set_masked_sample(f[13]);
    ev.mutable_data_class()->set_confidence(data[3] / 255.0);
    ev.set_zone(f[14]);
  }
  if (data[3] & 2) {  // an attestation result
    ev.mutable_manifest()->set_name(f[15]);
    ev.mutable_manifest()->set_expectation(f[16]);
    ev.mutable_manifest()->set_evidence(f[17]);
  }
  for (Format fm : {Format::kJson, Format::kOcsf, Format::kCef, Format::kLeef, Format::kRfc5424}) {
    std::string r = render(ev, fm);
    if (r.empty() || r.find('\n') != std::string::npos) std::abort();  // one record, one line, never lost
    if (fm == Format::kCef) {  // 7 header separators, then the extension (always starting with rt=)
      size_t p = nthPipe(r, 7);
      if (p == std::string::npos || r.compare(p + 1, 3, "rt=") != 0) std::abort();
    }
    if (fm == Format::kLeef) {  // the 5th separator precedes the delimiter field, the 6th the attributes
      size_t p5 = nthPipe(r, 5), p6 = nthPipe(r, 6);
      if (p5 == std::string::npos || r.compare(p5 + 1, 4, "x09|") != 0 || p6 != p5 + 4 ||
          r.compare(p6 + 1, 8, "devTime=") != 0)
        std::abort();
    }
  }
  size_t cap = 64 + data[3] * 4;
  std::string cut = render(ev, Format::kRfc5424, cap);
  std::string full = render(ev, Format::kRfc5424);
  if (cut.size() > cap && cut != full.substr(0, cut.size())) std::abort();
  if (full.rfind(cut, 0) != 0) std::abort();  // always a prefix of the full record
  return 0;
}
