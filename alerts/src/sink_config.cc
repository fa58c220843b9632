#include "goldgate/alerts/sink_config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <set>

#include "goldgate/common/yaml_ctx.h"

namespace goldgate::alerts {

namespace fs = std::filesystem;

namespace {

// A sink's keys that belong to its transport: checked, and copied into `s`.
using TransportKeys = void (*)(const yamlcfg::Ctx& c, const YAML::Node& n, SinkConfig& s);

void syslogKeys(const yamlcfg::Ctx& c, const YAML::Node& n, SinkConfig& s) {
  if (auto hp = splitHostPort(s.address); !hp) c.fail(n["address"], hp.error().message);
}

void tlsKeys(const yamlcfg::Ctx& c, const YAML::Node& n, SinkConfig& s) {
  syslogKeys(c, n, s);
  if (!n["tls"]) return;
  const auto& tl = n["tls"];
  c.onlyKeys(tl, {"ca", "cert", "key", "server_name"});
  auto file = [&](const char* key) {
    std::string f = c.str(tl[key], key);
    if (!f.empty() && f[0] != '/') f = (fs::path(c.file()).parent_path() / f).string();
    std::error_code ec;
    if (!fs::is_regular_file(f, ec)) c.fail(tl[key], std::string("tls.") + key + ": " + f + ": no such file");
    return f;
  };
  if (tl["ca"]) s.tls.ca_file = file("ca");
  if (tl["cert"]) s.tls.cert_file = file("cert");
  if (tl["key"]) s.tls.key_file = file("key");
  if (tl["server_name"]) s.tls.server_name = c.str(tl["server_name"], "tls.server_name");
  if (s.tls.cert_file.empty() != s.tls.key_file.empty()) c.fail(tl, "tls: 'cert' and 'key' go together");
}

void kafkaKeys(const yamlcfg::Ctx& c, const YAML::Node& n, SinkConfig& s) {
  if (!n["topic"]) c.fail(n, "sink '" + s.name + "': a kafka sink needs 'topic'");
  s.topic = c.str(n["topic"], "topic");
  s.format = Format::kJson;
  if (n["kafka"]) s.kafka_properties = c.strMap(n["kafka"], "kafka");
}

// One row per transport: its name in the YAML, the keys only it takes, and the function that reads
// them. A new transport is a row here, its key function, and its connection (sink.cc).
struct TransportRow {
  Transport transport;
  const char* name;
  std::initializer_list<const char*> own_keys;
  TransportKeys keys;
};
const TransportRow kTransports[] = {
    {Transport::kUdp, "udp", {}, syslogKeys},
    {Transport::kTcp, "tcp", {}, syslogKeys},
    {Transport::kTls, "tls", {"tls"}, tlsKeys},
    {Transport::kKafka, "kafka", {"topic", "kafka"}, kafkaKeys},
};

std::string transportList() {
  std::string names;
  for (const auto& t : kTransports) names += (names.empty() ? "" : ", ") + std::string(t.name);
  return names;
}

const TransportRow& rowOf(Transport t) {
  for (const auto& r : kTransports)
    if (r.transport == t) return r;
  return kTransports[0];
}

}  // namespace

Result<Transport> parseTransport(std::string_view name) {
  for (const auto& t : kTransports)
    if (name == t.name) return t.transport;
  return makeError(Error::Code::kInvalidArgument,
                   "unknown sink transport '" + std::string(name) + "' (" + transportList() + ")");
}

const char* transportName(Transport t) { return rowOf(t).name; }

Result<std::pair<std::string, std::string>> splitHostPort(const std::string& address) {
  std::string host, port;
  if (!address.empty() && address[0] == '[') {
    auto close = address.find(']');
    if (close == std::string::npos || close + 1 >= address.size() || address[close + 1] != ':')
      return makeError(Error::Code::kInvalidArgument, "address '" + address + "': expected [v6-address]:port");
    host = address.substr(1, close - 1);
    port = address.substr(close + 2);
  } else {
    auto colon = address.rfind(':');
    if (colon == std::string::npos || colon == 0)
      return makeError(Error::Code::kInvalidArgument, "address '" + address + "': expected host:port");
    host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  unsigned v = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
  if (ec != std::errc() || p != port.data() + port.size() || v == 0 || v > 65535)
    return makeError(Error::Code::kInvalidArgument, "address '" + address + "': port '" + port + "' is not 1-65535");
  return std::make_pair(host, port);
}

// alerts.sinks: a list of network sinks, each with its own transport, format, filter and spool.
std::vector<SinkConfig> parseSinks(const yamlcfg::Ctx& c, const YAML::Node& list, const std::string& spoolDir) {
  if (!list.IsSequence()) c.fail(list, "alerts.sinks: expected a list of sinks");
  std::vector<SinkConfig> out;
  std::set<std::string> names;
  std::vector<const char*> keys = {"name",         "transport", "address",  "format",
                                   "min_severity", "kinds",     "spool_mb", "max_message"};
  for (const auto& t : kTransports) keys.insert(keys.end(), t.own_keys.begin(), t.own_keys.end());
  for (const auto& n : list) {
    c.onlyKeys(n, keys);
    SinkConfig s;
    if (!n["name"]) c.fail(n, "sink: missing 'name'");
    s.name = c.str(n["name"], "sink name");
    if (s.name.empty() ||
        s.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") !=
            std::string::npos ||
        s.name[0] == '.')
      c.fail(n["name"],
             "sink name '" + s.name + "': use letters, digits, '-', '_' and '.' (it names the spool folder)");
    if (!names.insert(s.name).second) c.fail(n["name"], "duplicate sink name '" + s.name + "'");
    if (!n["transport"]) c.fail(n, "sink '" + s.name + "': missing 'transport' (" + transportList() + ")");
    auto t = parseTransport(c.str(n["transport"], "transport"));
    if (!t) c.fail(n["transport"], t.error().message);
    s.transport = *t;
    // Another transport's keys: refused, naming the transport they need.
    const TransportRow& row = rowOf(s.transport);
    for (const auto& other : kTransports)
      for (const char* k : other.own_keys)
        if (n[k] && std::find_if(row.own_keys.begin(), row.own_keys.end(),
                                 [k](const char* o) { return std::string_view(o) == k; }) == row.own_keys.end())
          c.fail(n[k], "sink '" + s.name + "': '" + k + "' needs transport: " + other.name);
    if (!n["address"]) c.fail(n, "sink '" + s.name + "': missing 'address'");
    s.address = c.str(n["address"], "address");
    row.keys(c, n, s);
    if (n["format"]) {
      auto f = parseFormat(c.str(n["format"], "format"));
      if (!f) c.fail(n["format"], f.error().message);
      s.format = *f;
    }
    if (n["min_severity"]) s.min_severity = static_cast<uint32_t>(c.uint(n["min_severity"], "min_severity", 0, 10));
    if (n["kinds"]) s.kinds = c.strList(n["kinds"], "kinds");
    if (n["spool_mb"]) s.spool_bytes = c.uint(n["spool_mb"], "spool_mb", 1, 1u << 20) << 20;
    if (n["max_message"]) s.max_message = static_cast<uint32_t>(c.uint(n["max_message"], "max_message", 480, 1u << 20));
    s.spool_dir = spoolDir + "/" + s.name;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace goldgate::alerts
