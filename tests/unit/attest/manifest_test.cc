#include "goldgate/attest/manifest.h"
#include "goldgate/attest/responses.h"

#include <google/protobuf/util/message_differencer.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "expect_table.h"
#include "temp_dir.h"

using namespace goldgate;
using namespace goldgate::attest;
namespace fs = std::filesystem;

namespace {

const char* kFull = R"(schema: 1
app: shop-web
description: the shop's web tier
version: 3
issued: 2026-11-27T10:00:00Z
expires: 2027-06-30T00:00:00Z
applies_to: {vms: [web1], labels: {app: shop-web, tier: front}, uuids: [0F4A55A2-2C4B-4D2B-9E59-4F1B7C1E0A11]}
executables:
  - path: /usr/sbin/nginx
    sha256: 3B1F5B0B1C9A7A2C6F0E5A4D3C2B1A09F8E7D6C5B4A39281706F5E4D3C2B1A09
    users: [root, www-data]
    args: ["nginx: *"]
  - path: /bin/busybox
kernel:
  release: 6.1.0-27-amd64
  cmdline_sha256: 5f2c8e1d4b7a0c3f6e9d2b5a8c1f4e7d0a3b6c9f2e5d8a1b4c7f0e3d6a9b2c5f
  text_sha256: 0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d6c7b8a9f0e1d
  memory_view: required
  modules: [virtio_net, {name: e1000, sha256: 0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e5d6c7b8a9f0e1d}]
listeners:
  - {proto: tcp, port: 80, process: /usr/sbin/nginx}
  - {proto: udp, port: 5353}
connections:
  inbound:
    - {name: https-in, from: {zone: external}, proto: tcp, ports: [443, "8000-8080"]}
  outbound:
    - {to: {app: shop-db}, proto: tcp, ports: 5432}
    - {to: {cidr: 10.0.0.53}, proto: udp, ports: 53}
    - {to: {cidr: "2001:DB8::/32"}, proto: any}
    - {to: any, proto: icmp}
    - {to: {segment: monitoring}, proto: tcp}
data_classes:
  - {class: email, to: [{app: shop-db}]}
  - {class: payment-card}
responses:
  unknown_executable: quarantine
  kernel_text: [snapshot, suspend]
  unexpected_connection: block
  default: alert
)";

bool same(const proto::Manifest& a, const proto::Manifest& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

}  // namespace

TEST_CASE("a full manifest parses into the proto, normalised", "[attest][manifest]") {
  auto r = parseManifest(kFull, "web.yaml");
  REQUIRE(r.has_value());
  const auto& m = *r;
  CHECK(m.schema() == 1);
  CHECK(m.app() == "shop-web");
  CHECK(m.description() == "the shop's web tier");
  CHECK(m.version() == 3);
  CHECK(m.issued_unix() == 1795773600);   // 2026-11-27T10:00:00Z
  CHECK(m.expires_unix() == 1814313600);  // 2027-06-30T00:00:00Z
  CHECK(m.applies_to().vms(0) == "web1");
  CHECK(m.applies_to().labels().at("tier") == "front");
  CHECK(m.applies_to().uuids(0) == "0f4a55a2-2c4b-4d2b-9e59-4f1b7c1e0a11");
  REQUIRE(m.executables_size() == 2);
  CHECK(m.executables(0).sha256() == "3b1f5b0b1c9a7a2c6f0e5a4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a09");
  CHECK(m.executables(0).users_size() == 2);
  CHECK(m.executables(0).args(0) == "nginx: *");
  CHECK(m.executables(1).sha256().empty());
  CHECK(m.kernel().release() == "6.1.0-27-amd64");
  CHECK(m.kernel().memory_view_required());
  REQUIRE(m.kernel().modules_size() == 2);
  CHECK(m.kernel().modules(0).sha256().empty());
  CHECK(m.kernel().modules(1).name() == "e1000");
  CHECK_FALSE(m.kernel().any_module());
  CHECK(m.listeners(1).process().empty());
  REQUIRE(m.inbound_size() == 1);
  CHECK(m.inbound(0).name() == "https-in");
  CHECK(m.inbound(0).peer().zone() == "external");
  REQUIRE(m.inbound(0).ports_size() == 2);
  CHECK((m.inbound(0).ports(0).first() == 443 && m.inbound(0).ports(0).last() == 443));
  CHECK((m.inbound(0).ports(1).first() == 8000 && m.inbound(0).ports(1).last() == 8080));
  REQUIRE(m.outbound_size() == 5);
  CHECK(m.outbound(1).peer().cidr() == "10.0.0.53/32");
  CHECK(m.outbound(2).peer().cidr() == "2001:db8::/32");
  CHECK(m.outbound(3).peer().any());
  CHECK(m.outbound(3).ports_size() == 0);
  CHECK(m.data_classes(0).class_name() == "email");
  CHECK(m.data_classes(1).to_size() == 0);
  REQUIRE(m.responses_size() == 3);
  CHECK(m.responses(1).kind() == "kernel_text");
  CHECK(m.responses(1).actions_size() == 2);
  CHECK(m.responses(2).actions(0) == "block");
  REQUIRE(m.default_actions_size() == 1);
  CHECK(m.default_actions(0) == "alert");
}

TEST_CASE("manifestToYaml round-trips", "[attest][manifest]") {
  auto m = parseManifest(kFull, "web.yaml");
  REQUIRE(m.has_value());
  std::string yaml = manifestToYaml(*m);
  auto again = parseManifest(yaml, "again.yaml");
  INFO(yaml);
  REQUIRE(again.has_value());
  CHECK(same(*m, *again));
  CHECK(manifestToYaml(*again) == yaml);

  SECTION("a minimal manifest: defaults are filled in and survive") {
    auto min = parseManifest("schema: 1\napp: a\nversion: 1\nexpires: 2030-01-01\napplies_to: {labels: {app: a}}\n",
                             "min.yaml");
    REQUIRE(min.has_value());
    CHECK(min->default_actions(0) == "alert");
    CHECK(min->kernel().modules_size() == 0);
    auto back = parseManifest(manifestToYaml(*min), "back.yaml");
    REQUIRE(back.has_value());
    CHECK(same(*min, *back));
  }
  SECTION("strings YAML would read as something else stay strings") {
    auto odd = parseManifest(
        "schema: 1\napp: 'true'\ndescription: \"- [x]: {y} # z\\n second line\"\nversion: 1\n"
        "expires: 2030-01-01\napplies_to: {vms: ['null', '~', '*a', '0x10'], labels: {k: '', 'a: b': '#c'}}\n"
        "executables: [{path: '/opt/a b:c', args: ['&x', '!tag', '%p', '@v', '`q']}]\n",
        "odd.yaml");
    REQUIRE(odd.has_value());
    auto back = parseManifest(manifestToYaml(*odd), "back.yaml");
    INFO(manifestToYaml(*odd));
    REQUIRE(back.has_value());
    CHECK(same(*odd, *back));
  }
  SECTION("responses that wait for an operator") {
    auto c = parseManifest(
        "schema: 1\napp: a\nversion: 1\nexpires: 2030-01-01\napplies_to: {vms: [x]}\n"
        "responses:\n  kernel_text: {actions: [snapshot, suspend], confirm: true}\n  unknown_executable: quarantine\n",
        "c.yaml");
    REQUIRE(c.has_value());
    REQUIRE(c->responses_size() == 2);
    CHECK(c->responses(0).confirm());
    CHECK(c->responses(0).actions_size() == 2);
    CHECK_FALSE(c->responses(1).confirm());
    auto back = parseManifest(manifestToYaml(*c), "back.yaml");
    INFO(manifestToYaml(*c));
    REQUIRE(back.has_value());
    CHECK(same(*c, *back));
  }
  SECTION("modules: any") {
    auto any = parseManifest(
        "schema: 1\napp: a\nversion: 1\nexpires: 2030-01-01\napplies_to: {vms: [x]}\nkernel: {modules: any}\n",
        "a.yaml");
    REQUIRE(any.has_value());
    CHECK(any->kernel().any_module());
    auto back = parseManifest(manifestToYaml(*any), "back.yaml");
    REQUIRE(back.has_value());
    CHECK(same(*any, *back));
  }
}

TEST_CASE("the shipped sample manifests are valid and round-trip", "[attest][manifest]") {
  int n = 0;
  for (const auto& p : test::sortedEntries(fs::path(GOLDGATE_SOURCE_DIR) / "configs" / "manifests")) {
    if (p.extension() != ".yaml") continue;
    DYNAMIC_SECTION(p.filename().string()) {
      auto m = loadManifestFile(p.string());
      INFO((m ? std::string() : m.error().message));
      REQUIRE(m.has_value());
      auto back = parseManifest(manifestToYaml(*m), "back.yaml");
      REQUIRE(back.has_value());
      CHECK(same(*m, *back));
    }
    ++n;
  }
  CHECK(n >= 2);
}

TEST_CASE("bad manifests fail with file:line and the expected reason", "[attest][manifest]") {
  int cases =
      test::checkBadFiles(fs::path(GOLDGATE_TEST_DATA_DIR) / "manifests" / "bad",
                          [](const std::string& text, const std::string& name) { return parseManifest(text, name); });
  CHECK(cases >= 45);
}

TEST_CASE("timestamps: RFC 3339 UTC and dates, nothing else", "[attest][manifest]") {
  CHECK(*parseTimestamp("1970-01-01T00:00:00Z") == 0);
  CHECK(*parseTimestamp("2027-06-30") == 1814313600);
  CHECK(*parseTimestamp("2027-06-30t00:00:01z") == 1814313601);
  CHECK(*parseTimestamp("2028-02-29T23:59:59Z") == 1835481599);
  CHECK(*parseTimestamp("9999-12-31T23:59:59Z") == 253402300799);
  for (const char* bad :
       {"", "2027-06-30T00:00:00", "2027-06-30 00:00:00Z", "2027-06-30T00:00:00+00:00", "2027-13-01", "2027-02-29",
        "1969-12-31", "2027-06-30T24:00:00Z", "2027-06-30T00:60:00Z", "2027-06-30T00:00:60Z", "27-06-30", "2027-6-30",
        "2027-06-30T00:00:00.0Z", "+027-06-30", "2027/06/30"}) {
    INFO(bad);
    CHECK_FALSE(parseTimestamp(bad).has_value());
  }
  CHECK(formatTimestamp(0) == "1970-01-01T00:00:00Z");
  CHECK(formatTimestamp(1814313601) == "2027-06-30T00:00:01Z");
  for (int64_t t : {int64_t{0}, int64_t{951782400}, int64_t{1835481599}, int64_t{253402300799}})
    CHECK(*parseTimestamp(formatTimestamp(t)) == t);
}

TEST_CASE("loadManifestFile: missing, oversized", "[attest][manifest]") {
  test::TempDir dir;
  auto missing = loadManifestFile((dir.path() / "none.yaml").string());
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code == Error::Code::kNotFound);  // told apart from any other failure
  CHECK_THAT(missing.error().message, Catch::Matchers::Contains("none.yaml: No such file"));
  auto folder = loadManifestFile(dir.path().string());  // exists, cannot be read as a file
  REQUIRE_FALSE(folder.has_value());
  CHECK(folder.error().code == Error::Code::kIo);
  dir.write("big.yaml", std::string(kMaxManifestBytes + 1, '#'));
  auto big = loadManifestFile((dir.path() / "big.yaml").string());
  REQUIRE_FALSE(big.has_value());
  CHECK(big.error().code == Error::Code::kResource);
}

TEST_CASE("isAppName", "[attest][manifest]") {
  CHECK(isAppName("shop-web"));
  CHECK(isAppName("a.b_c-9"));
  CHECK_FALSE(isAppName(""));
  CHECK_FALSE(isAppName("Shop"));
  CHECK_FALSE(isAppName("a b"));
  CHECK_FALSE(isAppName(std::string(129, 'a')));
}

TEST_CASE("response actions: the table, the manifest parser and the docs agree", "[attest][responses]") {
  // Every action the table knows is accepted in a manifest, and documented with whether
  // `goldgatectl vm release` undoes it; an unknown one is refused naming all of them.
  std::ifstream f(std::filesystem::path(GOLDGATE_SOURCE_DIR) / "docs" / "attestation.md");
  std::string docs((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  REQUIRE_FALSE(docs.empty());
  for (const auto& a : kResponseActions) {
    INFO(a.name);
    if (a.name != "alert") {
      const std::string row = "| `" + std::string(a.name) + "` |";
      REQUIRE(docs.find(row) != std::string::npos);
      const std::string line = docs.substr(docs.find(row), docs.find('\n', docs.find(row)) - docs.find(row));
      const bool saysNo = line.find("| no |") != std::string::npos;
      CHECK(saysNo == a.undo.empty());
    }
    CHECK(findResponseAction(a.name) == &a);
  }
  CHECK(findResponseAction("reboot") == nullptr);
  CHECK(responseActionNames() == "alert, quarantine, harden, suspend, snapshot, poweroff");
}
