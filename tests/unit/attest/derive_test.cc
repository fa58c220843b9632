// Unit tests of manifests → microsegments: the rules derived from declared connections (both sides
// for app-to-app), twins for hardening, catch-alls for apps that only alert, warnings for what
// cannot be written, the file loading in the switch's own parser, and the per-address count.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "goldgate/attest/derive.h"
#include "goldgate/dataplane/config.h"

using namespace goldgate;
using namespace goldgate::attest;

namespace {

proto::ManifestConnection conn(const std::string& proto, std::vector<uint32_t> ports, const std::string& kind,
                               const std::string& value, const std::string& name = "") {
  proto::ManifestConnection c;
  c.set_name(name);
  c.set_proto(proto);
  for (auto p : ports) {
    auto* r = c.add_ports();
    r->set_first(p);
    r->set_last(p);
  }
  auto* peer = c.mutable_peer();
  if (kind == "app") peer->set_app(value);
  if (kind == "cidr") peer->set_cidr(value);
  if (kind == "zone") peer->set_zone(value);
  if (kind == "any") peer->set_any(true);
  return c;
}

proto::Manifest app(const std::string& name, std::vector<std::string> vms, bool block) {
  proto::Manifest m;
  m.set_schema(1);
  m.set_app(name);
  m.set_version(1);
  for (auto& v : vms) m.mutable_applies_to()->add_vms(v);
  if (block) {
    auto* r = m.add_responses();
    r->set_kind("unexpected_connection");
    r->add_actions("block");
  }
  return m;
}

// web (2 VMs, alerts on undeclared) → db (1 VM, blocks) on 5432; web → DNS by prefix; the outside
// → web on 443 (with a listener) and 8443 (without); db declares an inbound from "batch", which
// declares nothing.
std::vector<proto::Manifest> shop() {
  auto web = app("web", {"web1", "web2"}, false);
  *web.add_outbound() = conn("tcp", {5432}, "app", "db", "db");
  *web.add_outbound() = conn("udp", {53}, "cidr", "10.0.0.53/32", "dns");
  *web.add_outbound() = conn("tcp", {25}, "app", "mail", "smtp");  // no manifest for mail
  *web.add_inbound() = conn("tcp", {443, 8443}, "zone", "external", "https");
  auto* l = web.add_listeners();
  l->set_proto("tcp");
  l->set_port(443);
  auto db = app("db", {"db1"}, true);
  *db.add_inbound() = conn("tcp", {5432}, "app", "web");
  *db.add_inbound() = conn("tcp", {5432}, "app", "batch");
  auto* dl = db.add_listeners();
  dl->set_proto("tcp");
  dl->set_port(5432);
  auto batch = app("batch", {"batch1"}, true);
  return {db, web, batch};
}

bool hasLine(const std::string& yaml, const std::string& line) { return yaml.find(line) != std::string::npos; }

bool warned(const DerivedPolicy& d, const std::string& part) {
  return std::any_of(d.warnings.begin(), d.warnings.end(),
                     [&](const std::string& w) { return w.find(part) != std::string::npos; });
}

}  // namespace

TEST_CASE("derived rules: both sides for app to app, one side for prefixes and zones, a twin and a catch-all",
          "[attest][derive]") {
  auto d = deriveSegments(shop(), {});
  REQUIRE(d.has_value());
  const auto& y = d->segments_yaml;
  INFO(y);
  // Segments: batch, db, web and web's hardened twin (web alerts on undeclared connections; db blocks).
  CHECK(d->segments == 4);
  CHECK(hasLine(y, "  - name: web.hardened\n"));
  CHECK_FALSE(hasLine(y, "db.hardened"));
  // web → db on 5432 from both of web's segments.
  CHECK(hasLine(y, "{name: \"web-db\", from: \"web\", to: \"db\", proto: tcp, ports: [5432], action: allow}"));
  CHECK(
      hasLine(y, "{name: \"web-db.1\", from: \"web.hardened\", to: \"db\", proto: tcp, ports: [5432], action: allow}"));
  CHECK(hasLine(y, "{name: \"web-dns\", from: \"web\", to: \"10.0.0.53/32\", proto: udp, ports: [53], action: allow}"));
  CHECK(hasLine(
      y, "{name: \"web-https\", from: \"external\", to: \"web\", proto: tcp, ports: [443, 8443], action: allow}"));
  // The catch-all comes last and only from web's own segment.
  CHECK(hasLine(y, "{name: \"web-undeclared\", from: \"web\", to: \"any\", action: allow-log}"));
  CHECK(y.find("web-undeclared\"") > y.find("web-https"));
  CHECK(d->catch_alls == 1);
  // web-db, web-dns and web-https twice each (web and its twin); guards from web to db and batch;
  // the catch-all.
  CHECK(d->rules == 9);
  CHECK(d->guards == 2);
  CHECK(hasLine(y, "{name: \"web-not-undeclared-to-db\", from: \"web\", to: \"db\", action: deny-log}"));
  CHECK(y.find("web-not-undeclared-to-db") < y.find("web-undeclared\""));
  CHECK(hasLine(y, "default:\n  log: true\n"));
  // What could not be written is said.
  CHECK(warned(*d, "app mail has no manifest"));
  CHECK(warned(*d, "db inbound 2 (tcp from app batch): batch's manifest declares no matching outbound"));
  CHECK(warned(*d, "tcp 8443 has no listener in web's manifest"));
}

TEST_CASE("the derived file loads in the switch's own parser", "[attest][derive]") {
  auto sw = dataplane::parseSwitchConfig("ports:\n  - {name: \"vm1\", devargs: net_null0}\n", "goldgate.yaml");
  REQUIRE(sw.has_value());
  auto d = deriveSegments(shop(), {});
  REQUIRE(d.has_value());
  auto segs = dataplane::parseSegments({{"derived.yaml", d->segments_yaml}}, *sw);
  INFO((segs ? std::string() : segs.error().message));
  REQUIRE(segs.has_value());
  CHECK(segs->segments.size() == d->segments);
  CHECK(segs->rules.size() == d->rules);
  CHECK(segs->default_log);
  // No manifests: a valid, empty policy (everything denied).
  auto empty = deriveSegments({}, {});
  REQUIRE(empty.has_value());
  CHECK(dataplane::parseSegments({{"derived.yaml", empty->segments_yaml}}, *sw).has_value());
}

TEST_CASE("port agreement: the intersection of both sides' ports; none in common is no rule", "[attest][derive]") {
  auto a = app("a", {"a1"}, true);
  *a.add_outbound() = conn("tcp", {}, "app", "b");  // any port
  auto b = app("b", {"b1"}, true);
  *b.add_inbound() = conn("tcp", {8080}, "app", "a");
  auto d = deriveSegments({a, b}, {});
  REQUIRE(d.has_value());
  CHECK(hasLine(d->segments_yaml, "from: \"a\", to: \"b\", proto: tcp, ports: [8080], action: allow}"));
  b.mutable_inbound(0)->mutable_ports(0)->set_first(9090);
  b.mutable_inbound(0)->mutable_ports(0)->set_last(9090);
  a.mutable_outbound(0)->clear_ports();
  *a.mutable_outbound(0)->add_ports() = [] {
    proto::PortRange r;
    r.set_first(80);
    r.set_last(80);
    return r;
  }();
  d = deriveSegments({a, b}, {});
  REQUIRE(d.has_value());
  CHECK(d->rules == 0);
  CHECK(warned(*d, "declares no matching inbound"));
}

TEST_CASE("zones by name come from the switch configuration; unknown zones and segments are left out",
          "[attest][derive]") {
  auto a = app("a", {"a1"}, true);
  *a.add_outbound() = conn("tcp", {443}, "zone", "partners");
  proto::ManifestConnection toSeg;
  toSeg.set_proto("tcp");
  toSeg.mutable_peer()->set_segment("monitoring");
  *a.add_outbound() = toSeg;
  auto d = deriveSegments({a}, {});
  REQUIRE(d.has_value());
  CHECK(d->rules == 0);
  CHECK(warned(*d, "zone partners is not a zone"));
  CHECK(warned(*d, "segment monitoring"));
  DeriveOptions o;
  o.zones["partners"] = {"198.51.100.0/24", "203.0.113.0/24"};
  o.segments = {"monitoring"};
  d = deriveSegments({a}, o);
  REQUIRE(d.has_value());
  CHECK(d->rules == 3);
  CHECK(hasLine(d->segments_yaml, "to: \"203.0.113.0/24\", proto: tcp, ports: [443]"));
  CHECK(hasLine(d->segments_yaml, "to: \"monitoring\", proto: tcp, action: allow}"));
}

TEST_CASE("icmp is ICMP and ICMPv6; any protocol with ports is TCP and UDP", "[attest][derive]") {
  auto a = app("a", {"a1"}, true);
  *a.add_inbound() = conn("icmp", {}, "cidr", "10.0.0.0/24");
  *a.add_inbound() = conn("any", {53}, "any", "");
  auto d = deriveSegments({a}, {});
  REQUIRE(d.has_value());
  CHECK(d->rules == 4);
  CHECK(hasLine(d->segments_yaml, "to: \"a\", proto: icmpv6, action: allow}"));
  CHECK(hasLine(d->segments_yaml, "from: \"any\", to: \"a\", proto: udp, ports: [53], action: allow}"));
  CHECK_FALSE(hasLine(d->segments_yaml, "from: \"any\", to: \"a\", action: allow}"));  // never "anything, any port"
}

TEST_CASE("two manifests for one app are refused", "[attest][derive]") {
  auto d = deriveSegments({app("x", {"x1"}, true), app("x", {"x2"}, true)}, {});
  REQUIRE_FALSE(d.has_value());
  CHECK(d.error().message == "two manifests for app x");
}

TEST_CASE("the equivalent per-address ACL, counted by hand", "[attest][derive]") {
  // web-db: 5 web VMs × 1 db VM × 1 port range × 2 directions = 10
  // web-dns: 5 × 1 prefix × 1 × 2 = 10
  // web-https: 1 (external) × 5 × 2 port ranges × 2 = 20
  // Total 40; the derived policy writes these as 6 rules (web-db and web-dns from web and its
  // twin, web-https into web and its twin) plus one catch-all.
  auto ms = shop();
  CHECK(equivalentHandWrittenRules(ms, {{"web", 5}, {"db", 1}}, {}) == 40);
}
