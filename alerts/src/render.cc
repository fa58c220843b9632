#include "goldgate/alerts/render.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "goldgate/alerts/kinds.h"

namespace goldgate::alerts {
namespace {

constexpr const char* kVendor = "Goldgate";
constexpr const char* kVersion = "0.1";
// RFC 5424 SD-ID: name@private-enterprise-number. 32473 is the number IANA reserves for
// documentation (RFC 5612) until Goldgate has its own.
constexpr const char* kSdId = "goldgate@32473";

bool isControl(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

// A control character as rsyslog writes it ("#012"), so a record stays one line.
void appendOctal(std::string& o, char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "#%03o", static_cast<unsigned char>(c));
  o += buf;
}

// Backslash before each character of `special`; CR and LF (and tab, if asked) as \r \n \t.
std::string backslashEscape(std::string_view s, std::string_view special, bool tab) {
  std::string o;
  for (char c : s) {
    if (special.find(c) != std::string_view::npos) o += '\\', o += c;
    else if (c == '\n') o += "\\n";
    else if (c == '\r') o += "\\r";
    else if (tab && c == '\t') o += "\\t";
    else o += c;
  }
  return o;
}

std::string protoName(uint32_t p) {
  switch (p) {
    case 1: return "ICMP";
    case 6: return "TCP";
    case 17: return "UDP";
    case 58: return "IPv6-ICMP";
    case 132: return "SCTP";
    default: return std::to_string(p);
  }
}

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is not valid.
// The length of the well-formed UTF-8 sequence at s[i], or 0 when there is none (RFC 3629,
// table 3-7 of Unicode: no overlong forms, no surrogates, nothing past U+10FFFF).
size_t utf8Len(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = at(0);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // the range of the second byte
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c >= 0xe0 && c <= 0xef) n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
  else if (c >= 0xf0 && c <= 0xf4) n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
  if (n == 0 || i + n > s.size()) return 0;
  if (at(1) < lo || at(1) > hi) return 0;
  for (size_t k = 2; k < n; ++k)
    if ((at(k) & 0xc0) != 0x80) return 0;
  return n;
}

bool wellFormedUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t n = utf8Len(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// Only printable US-ASCII (33..126) is allowed in RFC 5424 header fields; anything else is cut
// to "-" if empty. Fields are also cut to their maximum length.
std::string headerField(std::string_view s, size_t max) {
  std::string out;
  for (char c : s) {
    if (out.size() == max) break;
    if (c >= 33 && c <= 126) out += c;
    else out += '_';
  }
  return out.empty() ? "-" : out;
}

std::string rfc3339(int64_t ns) {
  time_t secs = static_cast<time_t>(ns / 1000000000);
  long micros = static_cast<long>((ns % 1000000000) / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, micros);
  return buf;
}

int ocsfSeverity(uint32_t sev) {  // 1 informational .. 5 critical
  if (sev >= 9) return 5;
  if (sev >= 7) return 4;
  if (sev >= 5) return 3;
  if (sev >= 3) return 2;
  return 1;
}

const char* ocsfSeverityName(int id) {
  static const char* names[] = {"Unknown", "Informational", "Low", "Medium", "High", "Critical"};
  return names[id];
}

// A small JSON object writer: keys in the order written, values escaped.
class Json {
 public:
  Json& str(const char* k, std::string_view v) {
    key(k);
    out_ += '"' + jsonEscape(v) + '"';
    return *this;
  }
  // A field left out when empty (one that only some events carry).
  Json& opt(const char* k, std::string_view v) { return v.empty() ? *this : str(k, v); }
  Json& num(const char* k, int64_t v) {
    key(k);
    out_ += std::to_string(v);
    return *this;
  }
  Json& raw(const char* k, const std::string& json) {
    key(k);
    out_ += json;
    return *this;
  }
  std::string done() { return out_ + "}"; }

 private:
  void key(const char* k) {
    out_ += first_ ? "" : ",";
    first_ = false;
    out_ += '"';
    out_ += k;
    out_ += "\":";
  }
  std::string out_ = "{";
  bool first_ = true;
};

std::string confidenceText(double c) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%.2f", c);
  return buf;
}

std::string dataClassJson(const proto::DataClassFinding& d) {
  return Json()
      .str("name", d.name())
      .num("count", static_cast<int64_t>(d.count()))
      .raw("confidence", confidenceText(d.confidence()))
      .str("masked_sample", d.masked_sample())
      .num("stream_offset", static_cast<int64_t>(d.stream_offset()))
      .str("direction", d.direction())
      .opt("path", d.path())
      .done();
}

std::string manifestJson(const proto::ManifestCheck& m) {
  return Json()
      .str("name", m.name())
      .str("version", m.version())
      .str("expectation", m.expectation())
      .str("evidence", m.evidence())
      .done();
}

std::string renderJson(const proto::AlertEvent& ev) {
  std::string json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  // Protobuf may refuse a field that is not valid UTF-8, or (3.21) pass its bytes through: either
  // way the event's fields are then written here, each ill-formed byte replaced, rather than lost
  // or sent to a SIEM as JSON it cannot parse.
  if (google::protobuf::util::MessageToJsonString(ev, &json, opts).ok() && wellFormedUtf8(json)) return json;
  Json j;
  j.num("schema_version", ev.schema_version())
      .str("id", ev.id())
      .str("time_unix_ns", std::to_string(ev.time_unix_ns()));
  j.str("count", std::to_string(ev.count())).str("host", ev.host()).str("source", ev.source()).str("kind", ev.kind());
  j.num("severity", ev.severity()).str("vm", ev.vm()).str("port", ev.port()).str("segment", ev.segment());
  j.str("rule", ev.rule()).str("action", ev.action()).str("policy_version", std::to_string(ev.policy_version()));
  if (!ev.zone().empty()) j.str("zone", ev.zone());
  if (!ev.dst_zone().empty()) j.str("dst_zone", ev.dst_zone());
  if (ev.has_data_class()) j.raw("data_class", dataClassJson(ev.data_class()));
  if (ev.has_manifest()) j.raw("manifest", manifestJson(ev.manifest()));
  if (ev.has_flow())
    j.raw("flow", Json()
                      .str("src_ip", ev.flow().src_ip())
                      .str("dst_ip", ev.flow().dst_ip())
                      .num("src_port", ev.flow().src_port())
                      .num("dst_port", ev.flow().dst_port())
                      .num("protocol", ev.flow().protocol())
                      .str("community_id", ev.flow().community_id())
                      .done());
  j.str("message", ev.message());
  return j.done();
}

std::string renderOcsf(const proto::AlertEvent& ev) {
  const std::string& kind = ev.kind();
  const bool deny = kind == info(Kind::kPolicyDeny).name;
  bool network = deny || kind == info(Kind::kPolicyAllowLog).name;
  bool data = ev.has_data_class();
  // Network Activity for policy decisions, Data Security Finding for data classes, Detection
  // Finding for the rest (attestation red flags, spoofing, quarantine, ...).
  int classUid = network ? 4001 : data ? 2006 : 2004;
  int activity = network ? (deny ? 5 : 1) : 1;  // Refuse / Open ; Create
  int sev = ocsfSeverity(ev.severity());
  int64_t ms = ev.time_unix_ns() / 1000000;
  Json j;
  j.num("class_uid", classUid)
      .str("class_name", network ? "Network Activity"
                         : data  ? "Data Security Finding"
                                 : "Detection Finding")
      .num("category_uid", network ? 4 : 2)
      .str("category_name", network ? "Network Activity" : "Findings")
      .num("activity_id", activity)
      .str("activity_name", network ? (activity == 5 ? "Refuse" : "Open") : "Create")
      .num("type_uid", classUid * 100 + activity)
      .num("time", ms)
      .num("severity_id", sev)
      .str("severity", ocsfSeverityName(sev))
      .str("message", ev.message())
      .num("count", static_cast<int64_t>(ev.count() ? ev.count() : 1));
  if (ev.last_time_unix_ns()) j.num("start_time", ms).num("end_time", ev.last_time_unix_ns() / 1000000);
  j.raw("metadata",
        Json()
            .str("version", "1.1.0")
            .str("uid", ev.id())
            .raw("product", Json().str("name", ev.source()).str("vendor_name", kVendor).str("version", kVersion).done())
            .done());
  if (!ev.action().empty()) {
    // OCSF disposition: 1 Allowed, 2 Blocked, 3 Quarantined, 17 Logged, 99 Other.
    const std::string& a = ev.action();
    std::pair<int, const char*> d{99, "Other"};
    if (a == "deny" || a == "drop" || a == "cut" || a == "block" || a == "reset") d = {2, "Blocked"};
    else if (a == "quarantine") d = {3, "Quarantined"};
    else if (a == "alert" || a == "log") d = {17, "Logged"};
    else if (a == "allow" || a == "pass") d = {1, "Allowed"};
    j.num("disposition_id", d.first).str("disposition", d.second);
  }
  if (ev.has_flow() && !ev.flow().src_ip().empty()) {
    const auto& f = ev.flow();
    j.raw("src_endpoint", Json().str("ip", f.src_ip()).num("port", f.src_port()).done());
    j.raw("dst_endpoint", Json().str("ip", f.dst_ip()).num("port", f.dst_port()).done());
    Json ci;
    ci.num("protocol_num", f.protocol()).str("protocol_name", protoName(f.protocol()));
    if (!f.community_id().empty()) ci.str("community_uid", f.community_id());
    j.raw("connection_info", ci.done());
  }
  if (!network)
    j.raw("finding_info",
          Json().str("uid", ev.id()).str("title", ev.message()).raw("types", "[\"" + jsonEscape(kind) + "\"]").done());
  if (data) {
    const auto& d = ev.data_class();
    j.raw("data_security", Json()
                               .str("data_classification", d.name())
                               .str("pattern_match", d.masked_sample())
                               .raw("confidence", confidenceText(d.confidence()))
                               .num("match_count", static_cast<int64_t>(d.count()))
                               .done());
  }
  std::string contentJson;  // in `unmapped`: OCSF has no object for content that cannot be read
  if (ev.has_content()) {
    const auto& c = ev.content();
    Json tls;
    tls.opt("sni", c.server_name()).opt("version", c.tls_version()).opt("alpn", c.alpn());
    if (!c.ja4().empty()) tls.raw("ja3_hash", Json().str("algorithm", "JA4").str("value", c.ja4()).done());
    contentJson = Json()
                      .str("category", c.category())
                      .opt("reason", c.reason())
                      .opt("path", c.path())
                      .opt("detail", c.detail())
                      .done();
    if (c.category() == "tls") j.raw("tls", tls.done());
  }
  if (ev.has_manifest()) {
    const auto& m = ev.manifest();
    j.raw("evidences", "[" + Json().str("expected", m.expectation()).str("observed", m.evidence()).done() + "]");
  }
  j.raw("device", Json().str("hostname", ev.host()).done());
  Json u;
  u.str("kind", kind).str("vm", ev.vm()).str("port", ev.port()).str("segment", ev.segment()).str("rule", ev.rule());
  u.num("policy_version", static_cast<int64_t>(ev.policy_version()));
  if (!ev.zone().empty()) u.str("zone", ev.zone());
  if (!ev.dst_zone().empty()) u.str("dst_zone", ev.dst_zone());
  if (data) u.opt("decode_path", ev.data_class().path());
  if (data) u.raw("data_class", dataClassJson(ev.data_class()));
  if (!contentJson.empty()) u.raw("content", contentJson);
  if (ev.has_manifest()) u.raw("manifest", manifestJson(ev.manifest()));
  j.raw("unmapped", u.done());
  return j.done();
}

// CEF / LEEF extension: key=value pairs; empty values are left out.
template <typename Escape>
void kv(std::string& out, const char* sep, const char* k, std::string_view v, Escape esc) {
  if (v.empty()) return;
  if (!out.empty()) out += sep;
  out += k;
  out += '=';
  out += esc(v);
}

std::string renderCef(const proto::AlertEvent& ev) {
  std::string ext;
  auto e = [](std::string_view s) { return cefExtensionEscape(s); };
  kv(ext, " ", "rt", std::to_string(ev.time_unix_ns() / 1000000), e);
  kv(ext, " ", "dvchost", ev.host(), e);
  kv(ext, " ", "externalId", ev.id(), e);
  kv(ext, " ", "cnt", std::to_string(ev.count() ? ev.count() : 1), e);
  if (ev.has_flow() && !ev.flow().src_ip().empty()) {
    kv(ext, " ", "src", ev.flow().src_ip(), e);
    kv(ext, " ", "dst", ev.flow().dst_ip(), e);
    if (ev.flow().src_port()) kv(ext, " ", "spt", std::to_string(ev.flow().src_port()), e);
    if (ev.flow().dst_port()) kv(ext, " ", "dpt", std::to_string(ev.flow().dst_port()), e);
    kv(ext, " ", "proto", protoName(ev.flow().protocol()), e);
  }
  kv(ext, " ", "act", ev.action(), e);
  if (!ev.rule().empty()) kv(ext, " ", "cs1Label", "rule", e), kv(ext, " ", "cs1", ev.rule(), e);
  if (!ev.segment().empty()) kv(ext, " ", "cs2Label", "segment", e), kv(ext, " ", "cs2", ev.segment(), e);
  if (!ev.vm().empty()) kv(ext, " ", "cs3Label", "vm", e), kv(ext, " ", "cs3", ev.vm(), e);
  if (ev.has_flow() && !ev.flow().community_id().empty())
    kv(ext, " ", "cs4Label", "communityId", e), kv(ext, " ", "cs4", ev.flow().community_id(), e);
  if (!ev.port().empty()) kv(ext, " ", "cs5Label", "port", e), kv(ext, " ", "cs5", ev.port(), e);
  kv(ext, " ", "cn1Label", "policyVersion", e);
  kv(ext, " ", "cn1", std::to_string(ev.policy_version()), e);
  if (ev.has_data_class()) {
    const auto& d = ev.data_class();
    kv(ext, " ", "cs6Label", "dataClass", e), kv(ext, " ", "cs6", d.name(), e);
    kv(ext, " ", "cn2Label", "matchCount", e), kv(ext, " ", "cn2", std::to_string(d.count()), e);
    kv(ext, " ", "cfp1Label", "confidence", e), kv(ext, " ", "cfp1", confidenceText(d.confidence()), e);
    kv(ext, " ", "flexString1Label", "maskedSample", e), kv(ext, " ", "flexString1", d.masked_sample(), e);
    if (!d.path().empty()) kv(ext, " ", "filePath", d.path(), e);
  }
  if (ev.has_content()) {
    const auto& c = ev.content();
    kv(ext, " ", "cat", c.category(), e);
    if (!c.reason().empty()) kv(ext, " ", "reason", c.reason() + (c.detail().empty() ? "" : ": " + c.detail()), e);
    if (!c.path().empty()) kv(ext, " ", "filePath", c.path(), e);
    if (!c.server_name().empty()) kv(ext, " ", "dhost", c.server_name(), e);
    if (!c.ja4().empty()) kv(ext, " ", "requestClientApplication", c.ja4(), e);
  }
  if (ev.has_manifest()) {
    const auto& m = ev.manifest();
    kv(ext, " ", "flexString2Label", "manifest", e), kv(ext, " ", "flexString2", m.name() + "@" + m.version(), e);
    kv(ext, " ", "reason", "expected " + m.expectation() + "; observed " + m.evidence(), e);
  }
  kv(ext, " ", "msg", ev.message(), e);
  return "CEF:0|" + cefHeaderEscape(kVendor) + "|" + cefHeaderEscape(ev.source()) + "|" + kVersion + "|" +
         cefHeaderEscape(ev.kind()) + "|" + cefHeaderEscape(ev.message()) + "|" +
         std::to_string(std::min(ev.severity(), 10u)) + "|" + ext;
}

std::string renderLeef(const proto::AlertEvent& ev) {
  std::string attrs;
  auto e = [](std::string_view s) { return leefEscape(s); };
  const char* t = "\t";
  kv(attrs, t, "devTime", std::to_string(ev.time_unix_ns() / 1000000), e);
  kv(attrs, t, "devTimeFormat", "epoch", e);  // milliseconds since the epoch, as QRadar documents
  kv(attrs, t, "sev", std::to_string(std::min(ev.severity(), 10u)), e);
  kv(attrs, t, "cat", ev.kind(), e);
  kv(attrs, t, "identHostName", ev.host(), e);
  kv(attrs, t, "externalId", ev.id(), e);
  kv(attrs, t, "count", std::to_string(ev.count() ? ev.count() : 1), e);
  if (ev.has_flow() && !ev.flow().src_ip().empty()) {
    kv(attrs, t, "src", ev.flow().src_ip(), e);
    kv(attrs, t, "dst", ev.flow().dst_ip(), e);
    if (ev.flow().src_port()) kv(attrs, t, "srcPort", std::to_string(ev.flow().src_port()), e);
    if (ev.flow().dst_port()) kv(attrs, t, "dstPort", std::to_string(ev.flow().dst_port()), e);
    kv(attrs, t, "proto", protoName(ev.flow().protocol()), e);
    kv(attrs, t, "communityId", ev.flow().community_id(), e);
  }
  kv(attrs, t, "action", ev.action(), e);
  kv(attrs, t, "rule", ev.rule(), e);
  kv(attrs, t, "vm", ev.vm(), e);
  kv(attrs, t, "port", ev.port(), e);
  kv(attrs, t, "segment", ev.segment(), e);
  kv(attrs, t, "policyVersion", std::to_string(ev.policy_version()), e);
  kv(attrs, t, "srcZone", ev.zone(), e);
  kv(attrs, t, "dstZone", ev.dst_zone(), e);
  if (ev.has_data_class()) {
    const auto& d = ev.data_class();
    kv(attrs, t, "dataClass", d.name(), e);
    kv(attrs, t, "matchCount", std::to_string(d.count()), e);
    kv(attrs, t, "confidence", confidenceText(d.confidence()), e);
    kv(attrs, t, "maskedSample", d.masked_sample(), e);
    kv(attrs, t, "streamOffset", std::to_string(d.stream_offset()), e);
    kv(attrs, t, "decodePath", d.path(), e);
  }
  if (ev.has_content()) {
    const auto& c = ev.content();
    kv(attrs, t, "content", c.category(), e);
    kv(attrs, t, "contentReason", c.reason(), e);
    kv(attrs, t, "contentPath", c.path(), e);
    kv(attrs, t, "serverName", c.server_name(), e);
    kv(attrs, t, "alpn", c.alpn(), e);
    kv(attrs, t, "tlsVersion", c.tls_version(), e);
    kv(attrs, t, "ja4", c.ja4(), e);
  }
  if (ev.has_manifest()) {
    const auto& m = ev.manifest();
    kv(attrs, t, "manifest", m.name(), e);
    kv(attrs, t, "manifestVersion", m.version(), e);
    kv(attrs, t, "expected", m.expectation(), e);
    kv(attrs, t, "observed", m.evidence(), e);
  }
  kv(attrs, t, "msg", ev.message(), e);
  // LEEF 2.0 header: the sixth field names the attribute delimiter (x09 = tab).
  return "LEEF:2.0|" + cefHeaderEscape(kVendor) + "|" + cefHeaderEscape(ev.source()) + "|" + kVersion + "|" +
         cefHeaderEscape(ev.kind()) + "|x09|" + attrs;
}

std::string syslogHeader(const proto::AlertEvent& ev) {
  int pri = 16 * 8 + syslogSeverity(ev.severity());  // facility local0
  return "<" + std::to_string(pri) + ">1 " + rfc3339(ev.time_unix_ns()) + " " + headerField(ev.host(), 255) + " " +
         headerField(ev.source(), 48) + " - " + headerField(ev.kind(), 32) + " ";
}

std::string renderSyslog(const proto::AlertEvent& ev, size_t maxBytes) {
  std::string head = syslogHeader(ev);
  std::string sd = "[" + std::string(kSdId);
  auto param = [&](const char* name, const std::string& v) {
    if (!v.empty()) sd += std::string(" ") + name + "=\"" + sdParamEscape(v) + "\"";
  };
  param("id", ev.id());
  param("sev", std::to_string(ev.severity()));
  param("count", std::to_string(ev.count() ? ev.count() : 1));
  param("vm", ev.vm());
  param("port", ev.port());
  param("segment", ev.segment());
  if (ev.has_flow() && !ev.flow().src_ip().empty()) {
    param("src", ev.flow().src_ip());
    param("dst", ev.flow().dst_ip());
    param("spt", std::to_string(ev.flow().src_port()));
    param("dpt", std::to_string(ev.flow().dst_port()));
    param("proto", protoName(ev.flow().protocol()));
    param("communityId", ev.flow().community_id());
  }
  param("rule", ev.rule());
  param("action", ev.action());
  param("policyVersion", std::to_string(ev.policy_version()));
  param("zone", ev.zone());
  param("dstZone", ev.dst_zone());
  if (ev.has_data_class()) {
    const auto& d = ev.data_class();
    param("dataClass", d.name());
    param("matchCount", std::to_string(d.count()));
    param("confidence", confidenceText(d.confidence()));
    param("masked", d.masked_sample());
    param("offset", std::to_string(d.stream_offset()));
    param("decodePath", d.path());
  }
  if (ev.has_content()) {
    const auto& c = ev.content();
    param("content", c.category());
    param("contentReason", c.reason());
    param("contentPath", c.path());
    param("serverName", c.server_name());
    param("alpn", c.alpn());
    param("tlsVersion", c.tls_version());
    param("ja4", c.ja4());
  }
  if (ev.has_manifest()) {
    const auto& m = ev.manifest();
    param("manifest", m.name());
    param("manifestVersion", m.version());
    param("expected", m.expectation());
    param("observed", m.evidence());
  }
  sd += "]";
  std::string out = head + sd;
  if (ev.message().empty()) return out;
  out += " ";
  // Control characters in MSG become "#ooo" (octal), as rsyslog escapes them on reception: a
  // record stays one line for line-oriented receivers and files.
  std::string msg;
  for (char c : ev.message()) {
    if (isControl(c)) appendOctal(msg, c);
    else msg += c;
  }
  if (maxBytes == 0 || out.size() + msg.size() <= maxBytes) return out + msg;
  // Cut the MSG (never the header or structured data) at a character boundary.
  size_t room = maxBytes > out.size() ? maxBytes - out.size() : 0;
  size_t i = 0;
  while (i < msg.size()) {
    size_t n = utf8Len(msg, i);
    if (n == 0) n = 1;
    if (i + n > room) break;
    i += n;
  }
  return out + msg.substr(0, i);
}

}  // namespace

int syslogSeverity(uint32_t s) {
  if (s >= 9) return 2;  // critical
  if (s >= 7) return 3;  // error
  if (s >= 5) return 4;  // warning
  if (s >= 3) return 5;  // notice
  if (s >= 1) return 6;  // informational
  return 7;              // debug
}

std::string render(const proto::AlertEvent& ev, Format f, size_t maxBytes) {
  switch (f) {
    case Format::kJson: return renderJson(ev);
    case Format::kOcsf: return renderOcsf(ev);
    case Format::kCef: return renderCef(ev);
    case Format::kLeef: return renderLeef(ev);
    case Format::kRfc5424: return renderSyslog(ev, maxBytes);
  }
  return {};
}

std::string syslogMessage(const proto::AlertEvent& ev, Format f, size_t maxBytes) {
  if (f == Format::kRfc5424) return renderSyslog(ev, maxBytes);
  // The other formats are single-line records already; they travel whole as MSG (no SD).
  return syslogHeader(ev) + "- " + render(ev, f);
}

std::string cefHeaderEscape(std::string_view s) {
  std::string o;
  for (char c : s) {
    if (c == '\\' || c == '|') o += '\\';
    if (c == '\n' || c == '\r') {
      o += ' ';  // header fields are single-line
      continue;
    }
    o += c;
  }
  return o;
}

std::string cefExtensionEscape(std::string_view s) { return backslashEscape(s, "\\=", false); }

std::string leefEscape(std::string_view s) { return backslashEscape(s, "\\|", true); }

std::string sdParamEscape(std::string_view s) {
  std::string o;
  for (char c : s) {
    if (isControl(c)) {
      appendOctal(o, c);
    } else {
      if (c == '"' || c == '\\' || c == ']') o += '\\';
      o += c;
    }
  }
  return o;
}

std::string jsonEscape(std::string_view s) {
  std::string o;
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      o += '\\';
      o += static_cast<char>(c);
      ++i;
    } else if (c < 0x20) {
      char buf[8];
      switch (c) {
        case '\n': o += "\\n"; break;
        case '\r': o += "\\r"; break;
        case '\t': o += "\\t"; break;
        default: std::snprintf(buf, sizeof buf, "\\u%04x", c), o += buf;
      }
      ++i;
    } else if (c < 0x80) {
      o += static_cast<char>(c);
      ++i;
    } else {
      size_t n = utf8Len(s, i);
      if (n == 0) {
        o += "\xef\xbf\xbd";  // U+FFFD for a byte that is not valid UTF-8
        ++i;
      } else {
        o.append(s.substr(i, n));
        i += n;
      }
    }
  }
  return o;
}

}  // namespace goldgate::alerts
