// proto::Manifest → manifest YAML, in the layout of docs/attestation.md: one block a section,
// small items (peers, listeners, connections) in flow style on one line.
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>

#include "goldgate/attest/manifest.h"

namespace goldgate::attest {
namespace {

template <typename List>
void seq(YAML::Emitter& e, const List& items) {
  e << YAML::Flow << YAML::BeginSeq;
  for (const auto& s : items) e << s;
  e << YAML::EndSeq;
}

void peer(YAML::Emitter& e, const proto::ManifestPeer& p) {
  e << YAML::Flow << YAML::BeginMap;
  if (!p.segment().empty()) e << YAML::Key << "segment" << YAML::Value << p.segment();
  else if (!p.app().empty()) e << YAML::Key << "app" << YAML::Value << p.app();
  else if (!p.zone().empty()) e << YAML::Key << "zone" << YAML::Value << p.zone();
  else if (!p.cidr().empty()) e << YAML::Key << "cidr" << YAML::Value << p.cidr();
  else e << YAML::Key << "any" << YAML::Value << true;
  e << YAML::EndMap;
}

std::string portText(const proto::PortRange& r) {
  return r.first() == r.last() ? std::to_string(r.first()) : std::to_string(r.first()) + "-" + std::to_string(r.last());
}

void connections(YAML::Emitter& e, const char* key, const char* side,
                 const google::protobuf::RepeatedPtrField<proto::ManifestConnection>& list) {
  e << YAML::Key << key << YAML::Value << YAML::BeginSeq;
  for (const auto& c : list) {
    e << YAML::Flow << YAML::BeginMap;
    if (!c.name().empty()) e << YAML::Key << "name" << YAML::Value << c.name();
    e << YAML::Key << side << YAML::Value;
    peer(e, c.peer());
    e << YAML::Key << "proto" << YAML::Value << c.proto();
    if (c.ports_size() == 1) e << YAML::Key << "ports" << YAML::Value << portText(c.ports(0));
    if (c.ports_size() > 1) {
      std::vector<std::string> ports;
      for (const auto& r : c.ports()) ports.push_back(portText(r));
      e << YAML::Key << "ports" << YAML::Value;
      seq(e, ports);
    }
    e << YAML::EndMap;
  }
  e << YAML::EndSeq;
}

void selector(YAML::Emitter& e, const proto::ManifestSelector& s) {
  e << YAML::Key << "applies_to" << YAML::Value << YAML::BeginMap;
  if (s.vms_size()) {
    e << YAML::Key << "vms" << YAML::Value;
    seq(e, s.vms());
  }
  if (s.labels_size()) {
    // Sorted: a map's order in protobuf is unspecified, and the output should not wander.
    std::map<std::string, std::string> labels(s.labels().begin(), s.labels().end());
    e << YAML::Key << "labels" << YAML::Value << YAML::Flow << YAML::BeginMap;
    for (const auto& [k, v] : labels) e << YAML::Key << k << YAML::Value << v;
    e << YAML::EndMap;
  }
  if (s.uuids_size()) {
    e << YAML::Key << "uuids" << YAML::Value;
    seq(e, s.uuids());
  }
  e << YAML::EndMap;
}

void kernel(YAML::Emitter& e, const proto::ManifestKernel& k) {
  e << YAML::Key << "kernel" << YAML::Value << YAML::BeginMap;
  if (!k.release().empty()) e << YAML::Key << "release" << YAML::Value << k.release();
  if (!k.cmdline_sha256().empty()) e << YAML::Key << "cmdline_sha256" << YAML::Value << k.cmdline_sha256();
  if (!k.text_sha256().empty()) e << YAML::Key << "text_sha256" << YAML::Value << k.text_sha256();
  if (k.memory_view_required()) e << YAML::Key << "memory_view" << YAML::Value << "required";
  e << YAML::Key << "modules" << YAML::Value;
  if (k.any_module()) {
    e << "any";
  } else {
    e << YAML::Flow << YAML::BeginSeq;
    for (const auto& m : k.modules()) {
      if (m.sha256().empty()) e << m.name();
      else
        e << YAML::Flow << YAML::BeginMap << YAML::Key << "name" << YAML::Value << m.name() << YAML::Key << "sha256"
          << YAML::Value << m.sha256() << YAML::EndMap;
    }
    e << YAML::EndSeq;
  }
  e << YAML::EndMap;
}

void executables(YAML::Emitter& e, const proto::Manifest& m) {
  e << YAML::Key << "executables" << YAML::Value << YAML::BeginSeq;
  for (const auto& x : m.executables()) {
    e << YAML::BeginMap << YAML::Key << "path" << YAML::Value << x.path();
    if (!x.sha256().empty()) e << YAML::Key << "sha256" << YAML::Value << x.sha256();
    if (x.users_size()) {
      e << YAML::Key << "users" << YAML::Value;
      seq(e, x.users());
    }
    if (x.args_size()) {
      e << YAML::Key << "args" << YAML::Value;
      seq(e, x.args());
    }
    e << YAML::EndMap;
  }
  e << YAML::EndSeq;
}

void actions(YAML::Emitter& e, const std::string& kind, const google::protobuf::RepeatedPtrField<std::string>& list) {
  e << YAML::Key << kind << YAML::Value;
  if (list.size() == 1) e << list[0];
  else seq(e, list);
}

}  // namespace

std::string manifestToYaml(const proto::Manifest& m) {
  YAML::Emitter e;
  e << YAML::BeginMap;
  e << YAML::Key << "schema" << YAML::Value << m.schema();
  e << YAML::Key << "app" << YAML::Value << m.app();
  if (!m.description().empty()) e << YAML::Key << "description" << YAML::Value << m.description();
  e << YAML::Key << "version" << YAML::Value << m.version();
  if (m.issued_unix()) e << YAML::Key << "issued" << YAML::Value << formatTimestamp(m.issued_unix());
  e << YAML::Key << "expires" << YAML::Value << formatTimestamp(m.expires_unix());
  selector(e, m.applies_to());
  if (m.executables_size()) executables(e, m);
  kernel(e, m.kernel());
  if (m.listeners_size()) {
    e << YAML::Key << "listeners" << YAML::Value << YAML::BeginSeq;
    for (const auto& l : m.listeners()) {
      e << YAML::Flow << YAML::BeginMap << YAML::Key << "proto" << YAML::Value << l.proto() << YAML::Key << "port"
        << YAML::Value << l.port();
      if (!l.process().empty()) e << YAML::Key << "process" << YAML::Value << l.process();
      e << YAML::EndMap;
    }
    e << YAML::EndSeq;
  }
  if (m.inbound_size() || m.outbound_size()) {
    e << YAML::Key << "connections" << YAML::Value << YAML::BeginMap;
    if (m.inbound_size()) connections(e, "inbound", "from", m.inbound());
    if (m.outbound_size()) connections(e, "outbound", "to", m.outbound());
    e << YAML::EndMap;
  }
  if (m.data_classes_size()) {
    e << YAML::Key << "data_classes" << YAML::Value << YAML::BeginSeq;
    for (const auto& d : m.data_classes()) {
      e << YAML::Flow << YAML::BeginMap << YAML::Key << "class" << YAML::Value << d.class_name();
      e << YAML::Key << "to" << YAML::Value << YAML::Flow << YAML::BeginSeq;
      for (const auto& p : d.to()) peer(e, p);
      e << YAML::EndSeq << YAML::EndMap;
    }
    e << YAML::EndSeq;
  }
  e << YAML::Key << "responses" << YAML::Value << YAML::BeginMap;
  for (const auto& r : m.responses()) {
    if (!r.confirm()) {
      actions(e, r.kind(), r.actions());
      continue;
    }
    e << YAML::Key << r.kind() << YAML::Value << YAML::Flow << YAML::BeginMap;
    actions(e, "actions", r.actions());
    e << YAML::Key << "confirm" << YAML::Value << true << YAML::EndMap;
  }
  if (m.default_actions_size()) actions(e, "default", m.default_actions());
  else e << YAML::Key << "default" << YAML::Value << "alert";
  e << YAML::EndMap;
  e << YAML::EndMap;
  return std::string(e.c_str()) + "\n";
}

}  // namespace goldgate::attest
