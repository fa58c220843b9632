#include "goldgate/attest/derive.h"

#include <algorithm>
#include <set>
#include <sstream>

#include "goldgate/attest/manifest.h"

namespace goldgate::attest {
namespace {

using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;

Ranges rangesOf(const google::protobuf::RepeatedPtrField<proto::PortRange>& ports) {
  Ranges r;
  for (const auto& p : ports) r.emplace_back(p.first(), std::max(p.first(), p.last()));
  return r;
}

// The ports both lists allow (an empty list allows every port); `ok` false when none.
Ranges intersect(const Ranges& a, const Ranges& b, bool& ok) {
  ok = true;
  if (a.empty()) return b;
  if (b.empty()) return a;
  Ranges out;
  for (const auto& x : a)
    for (const auto& y : b) {
      uint32_t lo = std::max(x.first, y.first), hi = std::min(x.second, y.second);
      if (lo <= hi) out.emplace_back(lo, hi);
    }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  ok = !out.empty();
  return out;
}

bool protoMeets(const std::string& a, const std::string& b, std::string& out) {
  if (a == b) out = a;
  else if (a == "any") out = b;
  else if (b == "any") out = a;
  else return false;
  return true;
}

std::string portText(const std::pair<uint32_t, uint32_t>& r) {
  return r.first == r.second ? std::to_string(r.first)
                             : "\"" + std::to_string(r.first) + "-" + std::to_string(r.second) + "\"";
}

struct Rule {
  std::string name;
  std::vector<std::string> from, to;  // segment names, prefixes, external, any
  std::string proto;                  // tcp, udp, icmp, any
  Ranges ports;
  std::string action = "allow";
  size_t src_addrs = 1, dst_addrs = 1;
};

struct Deriver {
  const std::vector<proto::Manifest>& ms;
  const DeriveOptions& opts;
  std::map<std::string, const proto::Manifest*> byApp;
  std::vector<Rule> rules, catchAlls;
  std::vector<std::string> warnings;
  std::set<std::string> names;

  bool twin(const proto::Manifest& m) const {
    auto a = responseActions(m, "unexpected_connection");
    return std::find(a.begin(), a.end(), "block") == a.end();
  }
  std::vector<std::string> segmentsOf(const std::string& app) const {
    std::vector<std::string> s{app};
    if (twin(*byApp.at(app))) s.push_back(hardenedSegment(app));
    return s;
  }
  size_t vmsOf(const std::string& app, const std::map<std::string, size_t>* counts) const {
    if (counts)
      if (auto it = counts->find(app); it != counts->end()) return std::max<size_t>(1, it->second);
    return std::max<size_t>(1, static_cast<size_t>(byApp.at(app)->applies_to().vms_size()));
  }
  // A peer that is not an app: its rule endpoints (empty, with a warning, if it cannot be written).
  std::vector<std::string> endpointsOf(const proto::ManifestPeer& p, const std::string& where) {
    if (p.any()) return {"any"};
    if (!p.cidr().empty()) return {p.cidr()};
    if (!p.segment().empty()) {
      if (byApp.count(p.segment()) || opts.segments.count(p.segment())) return {p.segment()};
      warnings.push_back(where + ": segment " + p.segment() +
                         " is neither an app with a manifest nor a segment given to the derivation; left out");
      return {};
    }
    if (p.zone() == "external") return {"external"};
    if (auto it = opts.zones.find(p.zone()); it != opts.zones.end() && !it->second.empty()) return it->second;
    warnings.push_back(where + ": zone " + p.zone() + " is not a zone of the switch configuration; left out");
    return {};
  }
  std::string uniqueName(std::string base) {
    std::string n = base;
    for (int i = 2; !names.insert(n).second; ++i) n = base + "-" + std::to_string(i);
    return n;
  }
  // Does B's inbound declaration `d` accept A's outbound `c` from app A? Fills the agreed proto and ports.
  bool accepts(const proto::ManifestConnection& d, const std::string& appA, const proto::ManifestConnection& c,
               std::string& proto, Ranges& ports) const {
    const auto& p = d.peer();
    bool covers = p.any() || p.app() == appA || (!p.segment().empty() && p.segment() == appA);
    if (!covers || !protoMeets(c.proto(), d.proto(), proto)) return false;
    bool ok = true;
    ports = intersect(rangesOf(c.ports()), rangesOf(d.ports()), ok);
    return ok;
  }

  void run(const std::map<std::string, size_t>* counts) {
    for (const auto* m : sorted()) {
      const std::string& a = m->app();
      int n = 0;
      for (const auto& c : m->outbound()) {
        ++n;
        std::string where = a + " outbound " + std::to_string(n);
        Rule r;
        r.name = uniqueName(c.name().empty() ? a + "-out-" + std::to_string(n) : a + "-" + c.name());
        r.from = segmentsOf(a);
        r.src_addrs = vmsOf(a, counts);
        r.proto = c.proto();
        r.ports = rangesOf(c.ports());
        if (!c.peer().app().empty()) {
          const std::string& b = c.peer().app();
          auto it = byApp.find(b);
          if (it == byApp.end()) {
            warnings.push_back(where + ": app " + b + " has no manifest: no rule (least privilege needs both sides)");
            names.erase(r.name);
            continue;
          }
          bool agreed = false;
          for (const auto& d : it->second->inbound())
            if (!agreed && accepts(d, a, c, r.proto, r.ports)) agreed = true;
          if (!agreed) {
            warnings.push_back(where + " (" + c.proto() + " to app " + b + "): " + b +
                               "'s manifest declares no matching inbound from " + a + ": no rule");
            names.erase(r.name);
            continue;
          }
          r.to = segmentsOf(b);
          r.dst_addrs = vmsOf(b, counts);
        } else {
          r.to = endpointsOf(c.peer(), where);
          if (r.to.empty()) {
            names.erase(r.name);
            continue;
          }
          r.dst_addrs = r.to.size();
        }
        rules.push_back(std::move(r));
      }
      n = 0;
      for (const auto& d : m->inbound()) {
        ++n;
        std::string where = a + " inbound " + std::to_string(n);
        if (!d.peer().app().empty()) {
          // Written from the other side's outbound; here only checked that the other side agrees.
          const std::string& b = d.peer().app();
          auto it = byApp.find(b);
          bool agreed = false;
          if (it != byApp.end())
            for (const auto& c : it->second->outbound()) {
              std::string proto;
              Ranges ports;
              if (c.peer().app() == a && accepts(d, b, c, proto, ports)) agreed = true;
            }
          if (!agreed)
            warnings.push_back(where + " (" + d.proto() + " from app " + b + "): " +
                               (it == byApp.end() ? "app " + b + " has no manifest"
                                                  : b + "'s manifest declares no matching outbound") +
                               ": no rule");
          continue;
        }
        Rule r;
        r.name = uniqueName(d.name().empty() ? a + "-in-" + std::to_string(n) : a + "-" + d.name());
        r.from = endpointsOf(d.peer(), where);
        if (r.from.empty()) {
          names.erase(r.name);
          continue;
        }
        r.src_addrs = r.from.size();
        r.to = segmentsOf(a);
        r.dst_addrs = vmsOf(a, counts);
        r.proto = d.proto();
        r.ports = rangesOf(d.ports());
        if ((r.proto == "tcp" || r.proto == "udp") && !r.ports.empty()) {
          for (const auto& [lo, hi] : r.ports) {
            bool listened = false;
            for (const auto& l : m->listeners())
              listened = listened || (l.proto() == r.proto && l.port() >= lo && l.port() <= hi);
            if (!listened)
              warnings.push_back(where + ": " + r.proto + " " + std::to_string(lo) +
                                 (hi > lo ? "-" + std::to_string(hi) : "") + " has no listener in " + a +
                                 "'s manifest");
          }
        }
        rules.push_back(std::move(r));
      }
      if (m->applies_to().uuids_size())
        warnings.push_back(
            a + ": applies_to.uuids cannot be written as segment members (VMs are matched by name and labels)");
      if (twin(*m)) {
        // An app that only alerts on its own undeclared connections must not open the other
        // apps' VMs: toward them only what both manifests declare (above) passes.
        for (const auto& [other, om] : byApp) {
          if (other == a) continue;
          Rule g;
          g.name = uniqueName(a + "-not-undeclared-to-" + other);
          g.from = {a};
          g.to = segmentsOf(other);
          g.proto = "any";
          g.action = "deny-log";
          catchAlls.push_back(std::move(g));
        }
        Rule r;
        r.name = uniqueName(a + "-undeclared");
        r.from = {a};
        r.to = {"any"};
        r.proto = "any";
        r.action = "allow-log";
        catchAlls.push_back(std::move(r));
      }
    }
  }

  std::vector<const proto::Manifest*> sorted() const {
    std::vector<const proto::Manifest*> v;
    for (const auto& [app, m] : byApp) v.push_back(m);
    return v;
  }
};

// The switch's protocols for a manifest's: icmp is ICMP and ICMPv6; `any` with ports is TCP and UDP
// (a port means nothing to other protocols).
std::vector<std::string> switchProtocols(const Rule& r) {
  if (r.proto == "icmp") return {"icmp", "icmpv6"};
  if (r.proto == "any" && !r.ports.empty()) return {"tcp", "udp"};
  return {r.proto};
}

void emitRule(std::ostringstream& o, const Rule& r, const std::string& proto, const std::string& from,
              const std::string& to, const std::string& name) {
  o << "  - {name: \"" << name << "\", from: \"" << from << "\", to: \"" << to << "\"";
  if (proto != "any") o << ", proto: " << proto;
  if (!r.ports.empty() && (proto == "tcp" || proto == "udp")) {
    o << ", ports: [";
    for (size_t i = 0; i < r.ports.size(); ++i) o << (i ? ", " : "") << portText(r.ports[i]);
    o << "]";
  }
  o << ", action: " << r.action << "}\n";
}

}  // namespace

std::vector<std::string> responseActions(const proto::Manifest& m, const std::string& kind) {
  for (const auto& r : m.responses())
    if (r.kind() == kind) return {r.actions().begin(), r.actions().end()};
  if (m.default_actions_size()) return {m.default_actions().begin(), m.default_actions().end()};
  return {"alert"};
}

std::string hardenedSegment(const std::string& app) { return app + ".hardened"; }

Result<DerivedPolicy> deriveSegments(const std::vector<proto::Manifest>& manifests, const DeriveOptions& opts) {
  Deriver d{manifests, opts, {}, {}, {}, {}, {}};
  for (const auto& m : manifests)
    if (!d.byApp.emplace(m.app(), &m).second)
      return makeError(Error::Code::kInvalidArgument, "two manifests for app " + m.app());
  d.run(nullptr);
  DerivedPolicy out;
  std::ostringstream o;
  o << "# Derived from manifests by goldgatectl policy from-manifests"
    << (opts.source.empty() ? "" : " (" + opts.source + ")")
    << "; do not edit: edit the manifests, sign them, and derive again.\n";
  for (const auto* m : d.sorted()) o << "#   " << m->app() << " version " << m->version() << "\n";
  o << "# Default deny: only declared connections may start; replies pass statefully.\n";
  o << (manifests.empty() ? "segments: []\n" : "segments:\n");
  for (const auto* m : d.sorted()) {
    o << "  - name: " << m->app() << "\n    description: \"VMs of manifest " << m->app() << "\"\n";
    const auto& s = m->applies_to();
    if (s.vms_size() || s.labels_size()) {
      o << "    members:";
      if (s.vms_size()) {
        o << "\n      vms: [";
        for (int i = 0; i < s.vms_size(); ++i) o << (i ? ", " : "") << "\"" << s.vms(i) << "\"";
        o << "]";
      }
      if (s.labels_size()) {
        std::map<std::string, std::string> sortedLabels(s.labels().begin(), s.labels().end());
        o << "\n      labels: {";
        bool first = true;
        for (const auto& [k, v] : sortedLabels) {
          o << (first ? "" : ", ") << "\"" << k << "\": \"" << v << "\"";
          first = false;
        }
        o << "}";
      }
      o << "\n";
    }
    ++out.segments;
    if (d.twin(*m)) {
      o << "  - name: " << hardenedSegment(m->app()) << "\n    description: \"" << m->app()
        << " VMs restricted to their declared connections (response harden)\"\n";
      ++out.segments;
    }
  }
  o << (d.rules.empty() && d.catchAlls.empty() ? "rules: []\n" : "rules:\n");
  auto emit = [&](const Rule& r) {
    size_t k = 0;
    for (const auto& proto : switchProtocols(r))
      for (const auto& f : r.from)
        for (const auto& t : r.to) {
          emitRule(o, r, proto, f, t, k == 0 ? r.name : r.name + "." + std::to_string(k));
          ++k;
          ++out.rules;
        }
  };
  for (const auto& r : d.rules) emit(r);
  for (const auto& r : d.catchAlls) {
    emit(r);
    if (r.action == "allow-log") ++out.catch_alls;
    else ++out.guards;
  }
  o << "default:\n  log: true\n";
  out.segments_yaml = o.str();
  out.warnings = std::move(d.warnings);
  return out;
}

size_t equivalentHandWrittenRules(const std::vector<proto::Manifest>& manifests,
                                  const std::map<std::string, size_t>& vmsPerApp, const DeriveOptions& opts) {
  Deriver d{manifests, opts, {}, {}, {}, {}, {}};
  for (const auto& m : manifests) d.byApp.emplace(m.app(), &m);
  d.run(&vmsPerApp);
  size_t n = 0;
  for (const auto& r : d.rules)
    n += r.src_addrs * r.dst_addrs * std::max<size_t>(1, r.ports.size()) * switchProtocols(r).size() * 2;
  return n;
}

}  // namespace goldgate::attest
