// Unit tests of what goldgatectl prints for attestation: the VM report (text, HTML with every
// attacker-controlled string escaped and nothing fetched from elsewhere, JSON), the manifest list,
// releases, a learned draft's summary, and the duration parser.
#include <catch2/catch.hpp>

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include <string>
#include <vector>

#include "attest_cmd.h"
#include "output.h"
#include "report.h"

using namespace goldgate;
using namespace goldgate::cli;

namespace {

// What a compromised guest can put into its own process list.
const std::string kHostile = "<script>alert(1)</script> \"'&";

proto::VmRecord deviatingVm() {
  proto::VmRecord vm;
  vm.set_name("web1");
  vm.set_uuid("3f1c0000-0000-0000-0000-000000000001");
  vm.set_state("running");
  vm.set_app("web");
  auto* a = vm.mutable_attestation();
  a->set_state("deviating");
  a->set_app("web");
  a->set_manifest_version(3);
  a->add_signers("0123456789abcdef0123456789abcdef");
  a->add_signers("fedcba9876543210fedcba9876543210");
  a->set_expires_unix(1814400000);
  a->set_manifest_file("/etc/goldgate/manifests/web.yaml");
  a->set_quarantined(true);
  a->set_last_check_unix_ns(1795000002500000000);
  auto item = [&](const char* cat, const std::string& it, const std::string& exp, const std::string& obs,
                  const char* status, const char* trust) {
    auto* i = a->add_items();
    i->set_category(cat);
    i->set_item(it);
    i->set_expected(exp);
    i->set_observed(obs);
    i->set_status(status);
    i->set_trust(trust);
  };
  item("executable", "/usr/sbin/nginx", "sha256 3b1f5b0b1c9a, user www-data", "pid 100 www-data sha256 3b1f5b0b1c9a",
       "ok", "guest-reported");
  item("executable", "/tmp/x", "", "pid 666 root: /tmp/x " + kHostile, "unexpected", "guest-reported");
  item("kernel", "text_sha256", "9c0e", "77aa", "mismatch", "hypervisor-observed");
  item("listener", "tcp/443", "/usr/sbin/nginx", "", "not-seen", "guest-reported");
  item("connection", "outbound tcp 10.0.0.2:5432", "db", "10.0.0.2:5432 established", "ok", "hypervisor-observed");
  item("data_class", "pci.pan", "", "to 203.0.113.9:443", "unexpected", "hypervisor-observed");
  item("gpu", "nvidia0", "", "present", "unexpected", "guest-reported");
  auto* f = a->add_red_flags();
  f->set_id(7);
  f->set_kind("unknown_executable");
  f->set_severity("high");
  f->set_summary("unknown_executable: /tmp/x");
  f->set_expected("not in the manifest's executables");
  f->set_observed("pid 666 runs /tmp/x " + kHostile);
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
  auto* p = vm.mutable_guest()->mutable_processes();
  p->set_source("qemu-agent");
  p->set_trust("guest-reported");
  p->set_observed_unix_ns(1795000002000000000);
  auto* proc = p->add_processes();
  proc->set_pid(666);
  proc->set_exe("/tmp/x");
  proc->set_cmdline("/tmp/x " + kHostile);
  return vm;
}

// A VM no manifest applies to, with a guest that reports a hostile command line.
proto::VmRecord loneVm() {
  proto::VmRecord vm;
  vm.set_name("lone");
  vm.set_state("running");
  vm.mutable_attestation()->set_state("no-manifest");
  auto* g = vm.mutable_guest();
  g->mutable_kernel()->set_release("6.1.0-13-amd64");
  g->mutable_kernel()->set_trust("guest-reported");
  g->mutable_kernel()->set_observed_unix_ns(1795000000000000000);
  auto* ps = g->mutable_processes();
  ps->set_source("qemu-agent");
  ps->set_trust("guest-reported");
  ps->set_observed_unix_ns(1795000000000000000);
  auto* p = ps->add_processes();
  p->set_pid(42);
  p->set_user("root");
  p->set_exe("/bin/busybox");
  p->set_cmdline("busybox httpd " + kHostile);
  auto* l = g->mutable_listeners();
  l->set_trust("guest-reported");
  l->set_observed_unix_ns(1795000000000000000);
  auto* s = l->add_listeners();
  s->set_proto("tcp");
  s->set_addr("0.0.0.0");
  s->set_port(8080);
  s->set_pid(42);
  auto* fl = g->mutable_flows()->add_flows();
  fl->set_protocol("tcp");
  fl->set_direction("outbound");
  fl->set_local("10.0.0.5:40000");
  fl->set_remote("203.0.113.9:443");
  fl->add_classes("pci.pan");
  g->mutable_modules()->add_modules()->set_name("e1000");
  return vm;
}

bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

// Every needle is in `hay` (each reported on its own when it is not).
void checkHasAll(const std::string& hay, const std::vector<std::string>& needles) {
  for (const auto& n : needles) {
    INFO(n);
    CHECK(has(hay, n));
  }
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = 0; (p = hay.find(needle, p)) != std::string::npos; p += needle.size()) ++n;
  return n;
}

// The elements of `html` nest properly: every element opened is closed in order (void elements and
// the doctype aside). Returns the first problem, "" when there is none.
std::string nestingProblem(const std::string& html) {
  std::vector<std::string> open;
  for (size_t p = html.find('<'); p != std::string::npos; p = html.find('<', p + 1)) {
    size_t e = html.find('>', p);
    if (e == std::string::npos) return "a tag without its > at " + std::to_string(p);
    std::string tag = html.substr(p + 1, e - p - 1);
    if (tag.rfind("!DOCTYPE", 0) == 0) continue;
    bool closing = !tag.empty() && tag[0] == '/';
    std::string name = tag.substr(closing ? 1 : 0, tag.find_first_of(" \t\n", closing ? 1 : 0) - (closing ? 1 : 0));
    if (name == "meta") continue;
    if (!closing) {
      open.push_back(name);
    } else if (open.empty() || open.back() != name) {
      return "</" + name + "> closes <" + (open.empty() ? std::string("nothing") : open.back()) + ">";
    } else {
      open.pop_back();
    }
  }
  return open.empty() ? "" : "<" + open.back() + "> is never closed";
}

}  // namespace

TEST_CASE("the text report has the header, every category, the red flag with its evidence and the action", "[report]") {
  std::string t = formatReport(deviatingVm());
  checkHasAll(t, {"VM web1  3f1c0000-0000-0000-0000-000000000001  running", "app:          web",
                  "manifest:     web version 3 (/etc/goldgate/manifests/web.yaml)",
                  "0123456789abcdef0123456789abcdef, fedcba9876543210fedcba9876543210",
                  "expires:      2027-07-01T00:00:00Z", "attestation:  deviating, checked 2026-11-18T11:06:42Z",
                  "in force:     quarantined (goldgatectl vm release web1 undoes it)"});
  checkHasAll(t, {"\nExecutables\n", "\nKernel modules\n", "\nKernel\n", "\nListeners\n", "\nConnections\n",
                  "\nData classes\n", "  ITEM", "EXPECTED", "OBSERVED", "STATUS", "TRUST"});
  // A category with nothing in it still has its section; one this goldgatectl does not know is kept.
  checkHasAll(t, {"Kernel modules\n  nothing declared, nothing observed\n", "\ngpu\n"});
  checkHasAll(t, {"** unexpected", "** mismatch", "** not-seen"});
  checkHasAll(t, {"Red flags (1)", "#7  2026-11-18T", "high  unknown_executable: /tmp/x  (x2, last ",
                  "kind:      unknown_executable", "expected:  not in the manifest's executables",
                  "evidence:  pid 666 runs /tmp/x " + kHostile, "seen by:   qemu-agent (guest-reported)",
                  "response:  quarantine (done)"});
  checkHasAll(
      t, {"Response actions\n", "quarantine  done", "red-flag 7 (unknown_executable)", "the switch quarantined web1"});
}

TEST_CASE("the text report of a VM no manifest applies to shows what the guest was seen doing", "[report]") {
  std::string t = formatReport(loneVm());
  checkHasAll(t, {"manifest:     none applies\n", "attestation:  no-manifest, not checked yet",
                  "in force:     no response", "goldgatectl manifest learn lone --for 5m", "/bin/busybox",
                  "6.1.0-13-amd64", "8080", "203.0.113.9:443", "Red flags: none", "Response actions: none"});
  CHECK_FALSE(has(t, "Executables"));
  CHECK(has(t, "(--processes lists all of them"));
  CHECK_FALSE(has(formatReport(loneVm(), true), "(--processes lists all of them"));

  proto::VmRecord refused;
  refused.set_name("db1");
  refused.mutable_attestation()->set_state("manifest-rejected");
  refused.mutable_attestation()->set_manifest_error(
      "db.yaml: tampered: the signed payload differs from the file's bytes");
  std::string r = formatReport(refused);
  CHECK(has(r, "none applies (db.yaml: tampered"));
  CHECK(has(r, "nothing observed yet"));
}

TEST_CASE("no report passes control characters from the guest to the terminal or the page", "[report]") {
  auto vm = deviatingVm();
  vm.mutable_attestation()->mutable_red_flags(0)->set_observed("pid 666 \x1b]0;owned\x07 \x1b[2J");
  vm.mutable_attestation()->mutable_items(1)->set_item("/tmp/\x1b[31mx");
  std::string t = formatReport(vm);
  CHECK_FALSE(has(t, "\x1b"));
  CHECK_FALSE(has(t, "\x07"));
  CHECK(has(t, "pid 666 \\x1b]0;owned\\x07 \\x1b[2J"));
  CHECK(has(t, "/tmp/\\x1b[31mx"));

  auto lone = loneVm();
  lone.mutable_guest()->mutable_processes()->mutable_processes(0)->set_cmdline("httpd\x1b[2J");
  CHECK_FALSE(has(formatReport(lone), "\x1b"));
  // Nor to the page, where they would be invisible (and invalid).
  std::string h = formatReportHtml(vm, "hv1", 1795000003000000000) + formatReportHtml(lone, "hv1", 1795000003000000000);
  CHECK_FALSE(has(h, "\x1b"));
  CHECK(has(h, "pid 666 \\x1b]0;owned\\x07"));
  CHECK(has(h, "httpd\\x1b[2J"));
}

TEST_CASE("the HTML report escapes what the guest controls and loads nothing from elsewhere", "[report]") {
  for (const auto& vm : {deviatingVm(), loneVm()}) {
    INFO(vm.name());
    std::string h = formatReportHtml(vm, "host<1>", 1795000003000000000);
    CHECK(h.rfind("<!DOCTYPE html>\n", 0) == 0);
    CHECK(nestingProblem(h) == "");
    CHECK(count(h, "<html") == 1);
    CHECK(count(h, "<body>") == 1);
    CHECK(count(h, "</body>") == 1);
    CHECK(count(h, "<table>") == count(h, "</table>"));
    CHECK(count(h, "<tr") == count(h, "</tr>"));
    // Nothing the guest wrote comes through raw, and nothing could run or be fetched.
    CHECK_FALSE(has(h, kHostile));
    CHECK_FALSE(has(h, "<script"));
    CHECK_FALSE(has(h, "\"'&"));
    CHECK(has(h, "&lt;script&gt;alert(1)&lt;/script&gt; &quot;&#39;&amp;"));
    CHECK(has(h, "content=\"default-src 'none'; style-src 'unsafe-inline'\""));
    for (const char* ref : {"http://", "https://", "src=", "href=", "url(", "@import", "//"}) {
      INFO(ref);
      CHECK_FALSE(has(h, ref));
    }
    CHECK(has(h, "Generated 2026-11-18T"));
    CHECK(has(h, " on host&lt;1&gt; by goldgatectl report."));
  }
  std::string h = formatReportHtml(deviatingVm(), "hv1", 1795000003000000000);
  checkHasAll(h, {"<td>unknown_executable: /tmp/x</td>", "<tr class=\"sev-high\">", "tr.sev-critical{",
                  "<td class=\"bad\">quarantined</td>", "<td>red-flag 7 (unknown_executable)</td>",
                  "Executables: expected", "Kernel modules: expected", "Kernel: expected", "Listeners: expected",
                  "Connections: expected", "Data classes: expected", "Red flags (1)", "Response actions"});
  checkHasAll(formatReportHtml(loneVm(), "hv1", 1795000003000000000),
              {"No manifest applies: what hostmon observed", "<td class=\"mono\">/bin/busybox</td>",
               "<td class=\"mono\">busybox httpd &lt;script&gt;", "<td>8080</td>", "e1000"});
  CHECK(htmlEscape("a&b<c>d\"e'f") == "a&amp;b&lt;c&gt;d&quot;e&#39;f");
}

TEST_CASE("the report's JSON form keeps the proto field names and parses back into the same record", "[report]") {
  auto vm = deviatingVm();
  std::string json = toJson(vm);
  CHECK(has(json, "\"red_flags\""));
  CHECK(has(json, "\"action_ids\""));
  proto::VmRecord back;
  REQUIRE(google::protobuf::util::JsonStringToMessage(json, &back).ok());
  CHECK(google::protobuf::util::MessageDifferencer::Equals(back, vm));
}

TEST_CASE("the manifest list: accepted, expired and refused manifests with their reasons", "[report]") {
  proto::ListManifestsResponse l;
  auto* ok = l.add_manifests();
  ok->set_file("/etc/goldgate/manifests/web.yaml");
  ok->set_app("web");
  ok->set_version(3);
  ok->add_signers("5c263fd79a6620f9fe01fa7edaf7e2be");
  ok->add_signers("331c2ecc0f61b373d2ebd90efaa566d8");
  ok->set_expires_unix(1814400000);
  ok->set_accepted(true);
  ok->add_vms("web1");
  ok->add_vms("web2");
  auto* old = l.add_manifests();
  *old = *ok;
  old->set_file("/etc/goldgate/manifests/old.yaml");
  old->set_app("old");
  old->set_expires_unix(1700000000);
  old->clear_vms();
  auto* bad = l.add_manifests();
  bad->set_file("/etc/goldgate/manifests/db.yaml");
  bad->set_reason("tampered");
  bad->set_error("/etc/goldgate/manifests/db.yaml: tampered: the signed payload differs from the file's bytes");
  std::string t = formatManifests(l, 1795000000);
  CHECK(has(t, "FILE"));
  CHECK(has(t, "ERROR/REASON"));
  CHECK(has(t, "5c263fd7,331c2ecc"));
  CHECK(has(t, "2027-07-01T00:00:00Z"));
  CHECK(has(t, "accepted"));
  CHECK(has(t, "web1,web2"));
  CHECK(has(t, "expired"));
  CHECK(has(t, "REFUSED"));
  CHECK(has(t, "  tampered: the signed payload differs from the file's bytes\n"));
  CHECK(formatManifests({}, 0).find("no manifests") == 0);
}

TEST_CASE("a release lists each undone action; nothing in force says so", "[report]") {
  proto::ReleaseResponse r;
  auto* a = r.add_actions();
  a->set_action("release");
  a->set_state("done");
  a->set_detail("the switch released web1");
  a = r.add_actions();
  a->set_action("resume");
  a->set_state("failed");
  a->set_detail("libvirt: domain is not running");
  CHECK(formatRelease("web1", r) ==
        "web1: release done: the switch released web1\nweb1: resume failed: libvirt: domain is not running\n");
  CHECK(formatRelease("web1", {}) == "web1: no response in force, nothing to undo\n");
}

TEST_CASE("a learned draft's summary counts what it declares and what went into it", "[report]") {
  proto::LearnResponse l;
  l.mutable_draft()->set_app("web");
  l.mutable_draft()->set_version(4);
  l.mutable_draft()->add_executables()->set_path("/usr/sbin/nginx");
  l.mutable_draft()->add_listeners();
  l.set_observations(12);
  l.set_flows(3);
  CHECK(formatLearnSummary(l, "web.yaml") ==
        "draft web version 4 in web.yaml: 1 executables, 0 modules, 1 listeners, 0 inbound and 0 outbound connections, "
        "0 data "
        "classes (merged from 12 observations and 3 flows)");
}

TEST_CASE("durations", "[report]") {
  const std::vector<std::pair<const char*, uint64_t>> good = {{"30s", 30000},    {"5m", 300000},    {"1h", 3600000},
                                                              {"1500ms", 1500},  {"8", 8000},       {"1h30m", 5400000},
                                                              {"2m30s", 150000}, {"24h", 86400000}, {"0m1s", 1000}};
  for (const auto& [text, ms] : good) {
    INFO(text);
    auto d = parseDuration(text);
    REQUIRE(d.has_value());
    CHECK(*d == ms);
  }
  const std::vector<std::pair<const char*, const char*>> bad = {{"", "is empty"},
                                                                {"s", "is not a duration"},
                                                                {"0s", "is zero"},
                                                                {"5x", "unknown unit 'x'"},
                                                                {"5 m", "is not a duration"},
                                                                {"-3s", "is not a duration"},
                                                                {"1.5s", "is not a duration"},
                                                                {"1h30", "a number without a unit"},
                                                                {"5min", "unknown unit 'min'"},
                                                                {"99999999999999999999h", "is too long"},
                                                                {"9999999999999999h", "is too long"}};
  for (const auto& [text, why] : bad) {
    INFO(text);
    auto d = parseDuration(text);
    REQUIRE_FALSE(d.has_value());
    CHECK(has(d.error().message, why));
    CHECK(has(d.error().message, "(a duration: 30s, 5m, 1h"));
  }
}
