#include "goldgate/attest/diff.h"

#include <catch2/catch.hpp>

#include "goldgate/attest/manifest.h"

using namespace goldgate;
using namespace goldgate::attest;

namespace {

const char* kOld = R"(schema: 1
app: shop-web
version: 3
expires: 2027-06-30
applies_to: {vms: [web1], labels: {app: shop-web}}
executables:
  - {path: /usr/sbin/nginx, sha256: 1111111111111111111111111111111111111111111111111111111111111111, users: [root]}
  - {path: /bin/busybox}
kernel: {release: 6.1.0-27-amd64, modules: [virtio_net, e1000]}
listeners:
  - {proto: tcp, port: 80, process: /usr/sbin/nginx}
connections:
  inbound:
    - {name: https-in, from: {zone: external}, proto: tcp, ports: 443}
  outbound:
    - {to: {app: shop-db}, proto: tcp, ports: 5432}
data_classes:
  - {class: email, to: [{app: shop-db}]}
responses:
  unknown_executable: quarantine
)";

proto::Manifest parse(const std::string& text) {
  auto m = parseManifest(text, "m.yaml");
  INFO((m ? std::string() : m.error().message));
  REQUIRE(m.has_value());
  return *m;
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  auto pos = text.find(from);
  REQUIRE(pos != std::string::npos);
  return text.replace(pos, from.size(), to);
}

std::string diffText(const std::string& a, const std::string& b) {
  return formatDiff(diffManifests(parse(a), parse(b)));
}

}  // namespace

TEST_CASE("no difference between a manifest and itself or its round trip", "[attest][diff]") {
  auto m = parse(kOld);
  CHECK(diffManifests(m, m).empty());
  CHECK(diffManifests(m, parse(manifestToYaml(m))).empty());
  CHECK(formatDiff({}).empty());
}

TEST_CASE("diff names each changed item", "[attest][diff]") {
  struct Case {
    const char* name;
    std::string neu;
    std::string expected;
  } cases[] = {
      {"version", replaced(kOld, "version: 3", "version: 4"), "~ version: 3 -> 4\n"},
      {"expiry", replaced(kOld, "expires: 2027-06-30", "expires: 2027-12-31T12:00:00Z"),
       "~ expires: 2027-06-30T00:00:00Z -> 2027-12-31T12:00:00Z\n"},
      {"description added", replaced(kOld, "version: 3\n", "version: 3\ndescription: web\n"), "+ description: web\n"},
      {"executable hash",
       replaced(kOld, "sha256: 1111111111111111111111111111111111111111111111111111111111111111",
                "sha256: 2222222222222222222222222222222222222222222222222222222222222222"),
       "~ executables /usr/sbin/nginx: sha256 1111111111111111111111111111111111111111111111111111111111111111 -> "
       "sha256 2222222222222222222222222222222222222222222222222222222222222222\n"},
      {"executable users", replaced(kOld, "users: [root]", "users: [root, www-data]"),
       "~ executables /usr/sbin/nginx: users [root] -> users [root, www-data]\n"},
      {"executable removed", replaced(kOld, "  - {path: /bin/busybox}\n", ""),
       "- executables /bin/busybox: sha256 any, users any, args any\n"},
      {"executable added",
       replaced(kOld, "  - {path: /bin/busybox}\n", "  - {path: /bin/busybox}\n  - {path: /usr/bin/python3}\n"),
       "+ executables /usr/bin/python3: sha256 any, users any, args any\n"},
      {"module added and removed", replaced(kOld, "[virtio_net, e1000]", "[virtio_net, virtio_blk]"),
       "- kernel.modules e1000: sha256 any\n+ kernel.modules virtio_blk: sha256 any\n"},
      {"modules any", replaced(kOld, "modules: [virtio_net, e1000]", "modules: any"),
       "~ kernel.modules: listed -> any\n- kernel.modules e1000: sha256 any\n- kernel.modules virtio_net: sha256 "
       "any\n"},
      {"kernel release", replaced(kOld, "6.1.0-27-amd64", "6.1.0-28-amd64"),
       "~ kernel.release: 6.1.0-27-amd64 -> 6.1.0-28-amd64\n"},
      {"listener", replaced(kOld, "port: 80,", "port: 8080,"),
       "- listeners tcp/80 /usr/sbin/nginx\n+ listeners tcp/8080 /usr/sbin/nginx\n"},
      {"named connection ports", replaced(kOld, "proto: tcp, ports: 443}", "proto: tcp, ports: [443, 8443]}"),
       "~ inbound https-in: ports [443] -> ports [443, 8443]\n"},
      {"unnamed connection", replaced(kOld, "ports: 5432", "ports: 5433"),
       "- outbound to app shop-db, proto tcp, ports [5432]\n+ outbound to app shop-db, proto tcp, ports [5433]\n"},
      {"data class", replaced(kOld, "to: [{app: shop-db}]", "to: [{app: shop-db}, {zone: external}]"),
       "~ data_classes email: to [app shop-db] -> to [app shop-db, zone external]\n"},
      {"response",
       replaced(kOld, "unknown_executable: quarantine",
                "unknown_executable: [snapshot, quarantine]\n  default: [alert, harden]"),
       "~ responses default: [alert] -> [alert, harden]\n~ responses unknown_executable: [quarantine] -> [snapshot, "
       "quarantine]\n"},
      {"selector", replaced(kOld, "{vms: [web1], labels: {app: shop-web}}", "{vms: [web2], labels: {app: shop}}"),
       "- applies_to.vms web1\n+ applies_to.vms web2\n~ applies_to.labels app: shop-web -> shop\n"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) { CHECK(diffText(kOld, c.neu) == c.expected); }
  }
}

TEST_CASE("diff items carry op, section, subject, before and after", "[attest][diff]") {
  auto items = diffManifests(parse(kOld), parse(replaced(kOld, "version: 3", "version: 5")));
  REQUIRE(items.size() == 1);
  CHECK(items[0].op == DiffItem::Op::kChanged);
  CHECK(items[0].section == "version");
  CHECK(items[0].subject.empty());
  CHECK(items[0].before == "3");
  CHECK(items[0].after == "5");
}
