// Manifest differences. Every section is brought to one shape — subject → (field, text) pairs —
// and compared the same way, so that each kind of item is described once.
#include "goldgate/attest/diff.h"

#include <map>
#include <utility>

#include "goldgate/attest/manifest.h"

namespace goldgate::attest {
namespace {

using Fields = std::vector<std::pair<std::string, std::string>>;  // field name ("" for a bare value) → text
using Section = std::map<std::string, Fields>;                    // subject → fields

template <typename List>
std::string joinList(const List& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + std::string(s);
  return "[" + out + "]";
}

std::string peerText(const proto::ManifestPeer& p) {
  if (!p.segment().empty()) return "segment " + p.segment();
  if (!p.app().empty()) return "app " + p.app();
  if (!p.zone().empty()) return "zone " + p.zone();
  if (!p.cidr().empty()) return "cidr " + p.cidr();
  return "any";
}

std::string portsText(const proto::ManifestConnection& c) {
  std::vector<std::string> ports;
  for (const auto& r : c.ports())
    ports.push_back(r.first() == r.last() ? std::to_string(r.first())
                                          : std::to_string(r.first()) + "-" + std::to_string(r.last()));
  return ports.empty() ? "any" : joinList(ports);
}

std::string fieldsText(const Fields& f) {
  std::string out;
  for (const auto& [name, text] : f) out += (out.empty() ? "" : ", ") + (name.empty() ? text : name + " " + text);
  return out;
}

void compare(const std::string& section, const Section& a, const Section& b, std::vector<DiffItem>& out) {
  for (const auto& [subject, fa] : a) {
    auto it = b.find(subject);
    if (it == b.end()) {
      out.push_back({DiffItem::Op::kRemoved, section, subject, fieldsText(fa), ""});
      continue;
    }
    if (fa == it->second) continue;
    // Only the fields that differ, so that a changed hash is not lost among the unchanged ones.
    Fields before, after;
    const Fields& fb = it->second;
    for (size_t i = 0; i < std::max(fa.size(), fb.size()); ++i) {
      const auto* x = i < fa.size() ? &fa[i] : nullptr;
      const auto* y = i < fb.size() ? &fb[i] : nullptr;
      if (x && y && *x == *y) continue;
      if (x) before.push_back(*x);
      if (y) after.push_back(*y);
    }
    out.push_back({DiffItem::Op::kChanged, section, subject, fieldsText(before), fieldsText(after)});
  }
  for (const auto& [subject, fb] : b)
    if (!a.count(subject)) out.push_back({DiffItem::Op::kAdded, section, subject, "", fieldsText(fb)});
}

// One manifest, section by section, in the order diffs are reported.
std::vector<std::pair<std::string, Section>> sections(const proto::Manifest& m) {
  std::vector<std::pair<std::string, Section>> out;
  auto scalar = [&](const std::string& key, const std::string& value) {
    Section s;
    if (!value.empty()) s[""] = {{"", value}};
    out.emplace_back(key, std::move(s));
  };
  scalar("app", m.app());
  scalar("description", m.description());
  scalar("version", std::to_string(m.version()));
  scalar("issued", m.issued_unix() ? formatTimestamp(m.issued_unix()) : "");
  scalar("expires", formatTimestamp(m.expires_unix()));

  Section vms, uuids, labels;
  for (const auto& v : m.applies_to().vms()) vms[v] = {};
  for (const auto& u : m.applies_to().uuids()) uuids[u] = {};
  for (const auto& [k, v] : m.applies_to().labels()) labels[k] = {{"", v}};
  out.emplace_back("applies_to.vms", std::move(vms));
  out.emplace_back("applies_to.uuids", std::move(uuids));
  out.emplace_back("applies_to.labels", std::move(labels));

  Section exes;
  for (const auto& x : m.executables())
    exes[x.path()] = {{"sha256", x.sha256().empty() ? "any" : x.sha256()},
                      {"users", x.users_size() ? joinList(x.users()) : "any"},
                      {"args", x.args_size() ? joinList(x.args()) : "any"}};
  out.emplace_back("executables", std::move(exes));

  const auto& k = m.kernel();
  scalar("kernel.release", k.release());
  scalar("kernel.cmdline_sha256", k.cmdline_sha256());
  scalar("kernel.text_sha256", k.text_sha256());
  scalar("kernel.modules", k.any_module() ? "any" : "listed");
  Section mods;
  for (const auto& mod : k.modules()) mods[mod.name()] = {{"sha256", mod.sha256().empty() ? "any" : mod.sha256()}};
  out.emplace_back("kernel.modules", std::move(mods));

  Section listeners;
  for (const auto& l : m.listeners())
    listeners[l.proto() + "/" + std::to_string(l.port()) + (l.process().empty() ? "" : " " + l.process())] = {};
  out.emplace_back("listeners", std::move(listeners));

  for (bool inbound : {true, false}) {
    Section conns;
    for (const auto& c : inbound ? m.inbound() : m.outbound()) {
      Fields f = {{inbound ? "from" : "to", peerText(c.peer())}, {"proto", c.proto()}, {"ports", portsText(c)}};
      if (c.name().empty()) conns[fieldsText(f)] = {};
      else conns[c.name()] = std::move(f);
    }
    out.emplace_back(inbound ? "inbound" : "outbound", std::move(conns));
  }

  Section classes;
  for (const auto& d : m.data_classes()) {
    std::vector<std::string> to;
    for (const auto& p : d.to()) to.push_back(peerText(p));
    classes[d.class_name()] = {{"to", joinList(to)}};
  }
  out.emplace_back("data_classes", std::move(classes));

  Section responses;
  for (const auto& r : m.responses())
    responses[r.kind()] = {{"", joinList(r.actions()) + (r.confirm() ? " (confirm)" : "")}};
  responses["default"] = {{"", joinList(m.default_actions())}};
  out.emplace_back("responses", std::move(responses));
  return out;
}

}  // namespace

std::vector<DiffItem> diffManifests(const proto::Manifest& old, const proto::Manifest& neu) {
  std::vector<DiffItem> out;
  auto a = sections(old);
  auto b = sections(neu);
  // Both lists have the same sections in the same order.
  for (size_t i = 0; i < a.size(); ++i) compare(a[i].first, a[i].second, b[i].second, out);
  return out;
}

std::string formatDiff(const std::vector<DiffItem>& items) {
  std::string out;
  for (const auto& d : items) {
    const char op = d.op == DiffItem::Op::kAdded ? '+' : d.op == DiffItem::Op::kRemoved ? '-' : '~';
    std::string text = d.op == DiffItem::Op::kAdded     ? d.after
                       : d.op == DiffItem::Op::kRemoved ? d.before
                                                        : d.before + " -> " + d.after;
    out += op;
    out += ' ';
    out += d.section;
    if (!d.subject.empty()) out += " " + d.subject;
    if (!text.empty()) out += ": " + text;
    out += '\n';
  }
  return out;
}

}  // namespace goldgate::attest
