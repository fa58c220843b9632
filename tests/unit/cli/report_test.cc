// Unit tests of goldgatectl's VM report (text and HTML: every section, attacker-controlled strings
// escaped, nothing fetched from the network) and of its duration parser.
#include <catch2/catch.hpp>

#include <google/protobuf/util/json_util.h>

#include <string>

#include "attest_cmd.h"
#include "report.h"

using namespace goldgate;
using namespace goldgate::cli;

namespace {

proto::VmRecord deviatingVm() {
  proto::VmRecord vm;
  vm.set_name("web1");
  vm.set_uuid("3f1c0000-0000-0000-0000-000000000001");
  vm.set_state("running");
  auto* a = vm.mutable_attestation();
  a->set_state("deviating");
  a->set_app("web");
  a->set_manifest_version(3);
  a->add_signers("0123456789abcdef0123456789abcdef");
  a->set_expires_unix(1814400000);
  a->set_manifest_file("/etc/goldgate/manifests/web.yaml");
  a->set_quarantined(true);
  auto* i = a->add_items();
  i->set_category("executable");
  i->set_item("/usr/sbin/nginx");
  i->set_expected("sha256 3b1f5b0b1c9a…");
  i->set_observed("pid 100 www-data sha256 3b1f5b0b1c9a…");
  i->set_status("ok");
  i->set_trust("guest-reported");
  i = a->add_items();
  i->set_category("executable");
  i->set_item("/tmp/x");
  i->set_observed("pid 666 root: /tmp/x <script>alert(1)</script> \"'&");
  i->set_status("unexpected");
  i->set_trust("guest-reported");
  auto* f = a->add_red_flags();
  f->set_id(7);
  f->set_kind("unknown_executable");
  f->set_severity("high");
  f->set_summary("unknown_executable: /tmp/x");
  f->set_expected("not in the manifest's executables");
  f->set_observed("pid 666 runs /tmp/x <script>alert(1)</script> \"'&");
  f->set_source("qemu-agent");
  f->set_trust("guest-reported");
  f->set_first_unix_ns(1795000000000000000);
  f->set_last_unix_ns(1795000002000000000);
  f->set_count(2);
  f->add_action_ids(1);
  auto* x = a->add_actions();
  x->set_id(1);
  x->set_action("quarantine");
  x->set_state("done");
  x->set_trigger("red-flag 7 (unknown_executable)");
  x->set_detail("the switch quarantined web1");
  x->set_unix_ns(1795000000100000000);
  return vm;
}

}  // namespace

TEST_CASE("the text report has the manifest, expected and observed, the red flag and the action", "[report]") {
  std::string t = formatReport(deviatingVm());
  CHECK(t.find("manifest:   web version 3") != std::string::npos);
  CHECK(t.find("0123456789abcdef") != std::string::npos);
  CHECK(t.find("deviating, QUARANTINED") != std::string::npos);
  CHECK(t.find("Executables") != std::string::npos);
  CHECK(t.find("** unexpected") != std::string::npos);
  CHECK(t.find("#7 ") != std::string::npos);
  CHECK(t.find("(x2, last") != std::string::npos);
  CHECK(t.find("response: quarantine (done)") != std::string::npos);
  CHECK(t.find("red-flag 7 (unknown_executable)") != std::string::npos);
  proto::VmRecord none;
  none.set_name("lone");
  none.mutable_guest()->mutable_processes()->add_processes()->set_exe("/bin/busybox");
  std::string n = formatReport(none);
  CHECK(n.find("none applies") != std::string::npos);
  CHECK(n.find("/bin/busybox") != std::string::npos);
  CHECK(n.find("Red flags: none") != std::string::npos);
}

TEST_CASE("the HTML report escapes what the guest controls and loads nothing from elsewhere", "[report]") {
  std::string h = formatReportHtml(deviatingVm(), "host<1>", 1795000003000000000);
  CHECK(h.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(h.find("</html>") != std::string::npos);
  CHECK(h.find("<script") == std::string::npos);
  CHECK(h.find("&lt;script&gt;alert(1)&lt;/script&gt; &quot;&#39;&amp;") != std::string::npos);
  CHECK(h.find("host&lt;1&gt;") != std::string::npos);
  CHECK(h.find("http://") == std::string::npos);
  CHECK(h.find("https://") == std::string::npos);
  CHECK(h.find("unknown_executable: /tmp/x") != std::string::npos);
  CHECK(h.find("class=\"sev-high\"") != std::string::npos);
  // Balanced structure: one table per section opened and closed.
  size_t open = 0, close = 0;
  for (size_t p = 0; (p = h.find("<table>", p)) != std::string::npos; ++p) ++open;
  for (size_t p = 0; (p = h.find("</table>", p)) != std::string::npos; ++p) ++close;
  CHECK(open == close);
  CHECK(open >= 4);
}

TEST_CASE("the report's JSON form parses back into the same record", "[report]") {
  auto vm = deviatingVm();
  std::string json;
  REQUIRE(google::protobuf::util::MessageToJsonString(vm, &json).ok());
  proto::VmRecord back;
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &back).ok());
  CHECK(back.SerializeAsString() == vm.SerializeAsString());
}

TEST_CASE("durations", "[report]") {
  CHECK(*parseDuration("30s") == 30000);
  CHECK(*parseDuration("5m") == 300000);
  CHECK(*parseDuration("1h") == 3600000);
  CHECK(*parseDuration("1500ms") == 1500);
  CHECK(*parseDuration("8") == 8000);
  for (const char* bad : {"", "s", "0s", "5x", "-3s", "1.5s", "99999999999999999999h"}) {
    INFO(bad);
    CHECK_FALSE(parseDuration(bad).has_value());
  }
}
