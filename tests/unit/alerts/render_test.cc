// Renderers: golden files for every format, escaping rules, RFC 5424 length handling.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "goldgate/alerts/render.h"

using namespace goldgate;
using namespace goldgate::alerts;

namespace {

// Fixed events covering each OCSF class and the characters every format must escape.
proto::AlertEvent denyEvent() {
  proto::AlertEvent ev;
  ev.set_schema_version(1);
  ev.set_id("00000000deadbeef-00000007");
  ev.set_time_unix_ns(1795698000123456789);
  ev.set_count(3);
  ev.set_last_time_unix_ns(1795698002000000000);
  ev.set_host("hv-01.example");
  ev.set_source("goldgate-switch");
  ev.set_kind("policy.deny");
  ev.set_severity(5);
  ev.set_vm("web1");
  ev.set_port("vm-web1");
  ev.set_segment("web");
  ev.set_rule("no|pipes=here\\really");
  ev.set_action("deny");
  ev.set_policy_version(12);
  ev.set_message("denied \"tcp\" 10.0.0.1:40000 -> 10.0.0.2:22 [rule]\nsecond line\tand tab, caf\xc3\xa9");
  auto* f = ev.mutable_flow();
  f->set_src_ip("10.0.0.1");
  f->set_dst_ip("10.0.0.2");
  f->set_src_port(40000);
  f->set_dst_port(22);
  f->set_protocol(6);
  f->set_community_id("1:qxvzj3eiyD/pYU5wbirRNk7UDN0=");
  return ev;
}

proto::AlertEvent spoofEvent() {
  proto::AlertEvent ev;
  ev.set_schema_version(1);
  ev.set_id("00000000deadbeef-00000008");
  ev.set_time_unix_ns(1795698003000000000);
  ev.set_count(1);
  ev.set_host("hv-01.example");
  ev.set_source("goldgate-switch");
  ev.set_kind("spoof.ip");
  ev.set_severity(7);
  ev.set_vm("web1");
  ev.set_port("vm-web1");
  ev.set_segment("web");
  ev.set_rule("anti-spoofing");
  ev.set_action("drop");
  ev.set_policy_version(12);
  ev.set_message("spoofed source IP 10.0.0.66 from port 'vm-web1'");
  auto* f = ev.mutable_flow();
  f->set_src_ip("10.0.0.66");
  f->set_dst_ip("10.0.0.2");
  f->set_protocol(17);
  return ev;
}

proto::AlertEvent quarantineEvent() {
  proto::AlertEvent ev;
  ev.set_schema_version(1);
  ev.set_id("00000000deadbeef-00000009");
  ev.set_time_unix_ns(1795698004500000000);
  ev.set_count(1);
  ev.set_host("hv-01.example");
  ev.set_source("goldgate-switch");
  ev.set_kind("quarantine");
  ev.set_severity(8);
  ev.set_vm("web2");
  ev.set_port("vm-web2");
  ev.set_segment("quarantine");
  ev.set_action("quarantine");
  ev.set_policy_version(13);
  ev.set_message("port 'vm-web2' moved to the quarantine segment; its connections are cut");
  return ev;
}

proto::AlertEvent dataClassEvent() {
  proto::AlertEvent ev;
  ev.set_schema_version(1);
  ev.set_id("00000000deadbeef-0000000a");
  ev.set_time_unix_ns(1795698005000000000);
  ev.set_count(1);
  ev.set_host("hv-01.example");
  ev.set_source("goldgate-switch");
  ev.set_kind("data.payment-card");
  ev.set_severity(9);
  ev.set_vm("web1");
  ev.set_port("vm-web1");
  ev.set_segment("web");
  ev.set_zone("payment");
  ev.set_dst_zone("internet");
  ev.set_rule("payment-card/payment->internet");
  ev.set_action("block");
  ev.set_policy_version(14);
  ev.set_message("payment-card leaving zone payment for internet: flow blocked and reset");
  auto* d = ev.mutable_data_class();
  d->set_name("payment-card");
  d->set_count(3);
  d->set_confidence(0.97);
  d->set_masked_sample("************1111");
  d->set_stream_offset(18433);
  d->set_direction("orig");
  auto* f = ev.mutable_flow();
  f->set_src_ip("10.0.0.1");
  f->set_dst_ip("203.0.113.9");
  f->set_src_port(51000);
  f->set_dst_port(443);
  f->set_protocol(6);
  f->set_community_id("1:Ij1MsFC6VNVm7rEfNwKm5+pOSoo=");
  return ev;
}

proto::AlertEvent attestEvent() {
  proto::AlertEvent ev;
  ev.set_schema_version(1);
  ev.set_id("00000000deadbeef-0000000b");
  ev.set_time_unix_ns(1795698006000000000);
  ev.set_count(1);
  ev.set_host("hv-01.example");
  ev.set_source("goldgate-hostmon");
  ev.set_kind("attest.process");
  ev.set_severity(8);
  ev.set_vm("db1");
  ev.set_action("alert");
  ev.set_message("db1 runs a process its manifest does not describe");
  auto* m = ev.mutable_manifest();
  m->set_name("db-tier");
  m->set_version("7");
  m->set_expectation("executables: /usr/lib/postgresql/15/bin/postgres, /usr/sbin/sshd");
  m->set_evidence("process /tmp/.x (sha256 41aa0c…) pid 812 \"[kworker]\"");
  return ev;
}

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Compares with tests/data/alerts/NAME; GOLDGATE_UPDATE_GOLDEN=1 rewrites the file instead.
void golden(const std::string& name, const std::string& got) {
  std::string path = std::string(GOLDGATE_TEST_DATA_DIR) + "/alerts/" + name;
  if (std::getenv("GOLDGATE_UPDATE_GOLDEN")) {
    std::ofstream(path, std::ios::binary) << got << "\n";
    return;
  }
  std::string want = readAll(path);
  INFO("golden file " << path << " (GOLDGATE_UPDATE_GOLDEN=1 rewrites it after review)");
  REQUIRE(!want.empty());
  CHECK(got + "\n" == want);
}

}  // namespace

TEST_CASE("renderers match their golden files", "[render]") {
  const std::pair<const char*, proto::AlertEvent> events[] = {{"deny", denyEvent()},
                                                              {"spoof", spoofEvent()},
                                                              {"quarantine", quarantineEvent()},
                                                              {"dataclass", dataClassEvent()},
                                                              {"attest", attestEvent()}};
  for (const auto& [name, ev] : events) {
    for (Format f : {Format::kJson, Format::kOcsf, Format::kCef, Format::kLeef, Format::kRfc5424}) {
      SECTION(std::string(name) + "." + formatName(f)) {
        golden(std::string(name) + "." + formatName(f), render(ev, f));
      }
    }
  }
}

TEST_CASE("parseFormat knows every format and rejects others", "[render]") {
  for (Format f : {Format::kJson, Format::kOcsf, Format::kCef, Format::kLeef, Format::kRfc5424}) {
    auto r = parseFormat(formatName(f));
    REQUIRE(r.has_value());
    CHECK(*r == f);
  }
  CHECK(*parseFormat("syslog") == Format::kRfc5424);
  auto bad = parseFormat("xml");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message.find("json, ocsf, cef, leef, rfc5424") != std::string::npos);
}

TEST_CASE("CEF escaping: header and extension rules differ", "[render]") {
  CHECK(cefHeaderEscape("a|b\\c") == "a\\|b\\\\c");
  CHECK(cefHeaderEscape("a=b") == "a=b");  // '=' is fine in the header
  CHECK(cefHeaderEscape("two\nlines") == "two lines");
  CHECK(cefExtensionEscape("a=b\\c") == "a\\=b\\\\c");
  CHECK(cefExtensionEscape("a|b") == "a|b");  // '|' is fine in the extension
  CHECK(cefExtensionEscape("l1\nl2\rx") == "l1\\nl2\\rx");
}

TEST_CASE("LEEF escaping keeps the tab delimiter and pipes out of values", "[render]") {
  CHECK(leefEscape("a\tb") == "a\\tb");
  CHECK(leefEscape("a|b\\c") == "a\\|b\\\\c");
  CHECK(leefEscape("l1\nl2") == "l1\\nl2");
  std::string rec = render(denyEvent(), Format::kLeef);
  // Exactly 6 unescaped '|' separate the header fields; attributes are tab-separated key=value.
  int pipes = 0;
  for (size_t i = 0; i < rec.size(); ++i)
    if (rec[i] == '|' && (i == 0 || rec[i - 1] != '\\')) ++pipes;
  CHECK(pipes == 6);
  CHECK(rec.find('\n') == std::string::npos);
}

TEST_CASE("RFC 5424: structured data escaping, header fields and length", "[render]") {
  CHECK(sdParamEscape("a\"b\\c]d") == "a\\\"b\\\\c\\]d");
  CHECK(sdParamEscape("l1\nl2") == "l1#012l2");
  proto::AlertEvent ev = denyEvent();
  ev.set_host("bad host name");  // spaces are not allowed in HOSTNAME
  std::string rec = render(ev, Format::kRfc5424);
  CHECK(rec.rfind("<132>1 2026-11-26T", 0) == 0);  // local0 (16*8) + warning (4)
  CHECK(rec.find(" bad_host_name goldgate-switch - policy.deny [goldgate@32473 ") != std::string::npos);
  // Cut to a length: MSG shortened at a character boundary, header and SD intact.
  std::string full = render(denyEvent(), Format::kRfc5424);
  for (size_t max : {full.size(), full.size() - 1, full.size() - 5, size_t{480}}) {
    std::string cut = render(denyEvent(), Format::kRfc5424, max);
    INFO("max " << max);
    CHECK(cut.size() <= max);
    CHECK(full.rfind(cut, 0) == 0);  // a prefix of the full record
    CHECK(cut.find("]") != std::string::npos);
  }
  // "café" at the end: a cut inside the 2-byte é leaves it out entirely.
  std::string cut = render(denyEvent(), Format::kRfc5424, full.size() - 1);
  CHECK(cut.back() == 'f');
}

TEST_CASE("JSON escaping: control characters, quotes, invalid UTF-8", "[render]") {
  CHECK(jsonEscape("a\"b\\c") == "a\\\"b\\\\c");
  CHECK(jsonEscape(std::string("x\x01y", 3)) == "x\\u0001y");
  CHECK(jsonEscape("caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK(jsonEscape("bad\xff") == "bad\xef\xbf\xbd");
  CHECK(jsonEscape("\xc3") == "\xef\xbf\xbd");                  // truncated sequence
  CHECK(jsonEscape("\xf0\x9f\x98\x80") == "\xf0\x9f\x98\x80");  // a 4-byte character passes
  CHECK(jsonEscape("\xef\xbf\xbf") == "\xef\xbf\xbf");          // U+FFFF is well-formed
  // Ill-formed: each byte that starts no well-formed sequence becomes one U+FFFD.
  const std::string r = "\xef\xbf\xbd";
  CHECK(jsonEscape("\xc0\xaf") == r + r);                  // overlong '/'
  CHECK(jsonEscape("\xe0\x80\xaf") == r + r + r);          // overlong, 3 bytes
  CHECK(jsonEscape("\xed\xa0\x80") == r + r + r);          // a UTF-16 surrogate
  CHECK(jsonEscape("\xf0\x80\x80\xaf") == r + r + r + r);  // overlong, 4 bytes
  CHECK(jsonEscape("\xf4\x90\x80\x80") == r + r + r + r);  // past U+10FFFF
  CHECK(jsonEscape("\xf5\x80\x80\x80") == r + r + r + r);
}

TEST_CASE("a JSON record never carries ill-formed UTF-8 from a field (a guest-chosen name)", "[render]") {
  proto::AlertEvent ev = denyEvent();
  ev.set_vm("web\xed\xa0\x80");  // a surrogate: ill-formed
  ev.set_rule("r\xc0\xaf");      // an overlong '/'
  for (Format f : {Format::kJson, Format::kOcsf}) {
    const std::string rec = render(ev, f);
    INFO(rec);
    CHECK(rec.find("\xed\xa0") == std::string::npos);
    CHECK(rec.find("\xc0\xaf") == std::string::npos);
    CHECK(rec.find("web\xef\xbf\xbd") != std::string::npos);
  }
}

TEST_CASE("syslog severity mapping covers the whole Goldgate range", "[render]") {
  CHECK(syslogSeverity(10) == 2);
  CHECK(syslogSeverity(9) == 2);
  CHECK(syslogSeverity(8) == 3);
  CHECK(syslogSeverity(5) == 4);
  CHECK(syslogSeverity(3) == 5);
  CHECK(syslogSeverity(1) == 6);
  CHECK(syslogSeverity(0) == 7);
}
