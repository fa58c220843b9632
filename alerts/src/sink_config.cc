#include "goldgate/alerts/sink_config.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <filesystem>
#include <set>

#include "goldgate/common/yaml_ctx.h"

namespace goldgate::alerts {

namespace fs = std::filesystem;

Result<Transport> parseTransport(std::string_view name) {
  if (name == "udp") return Transport::kUdp;
  if (name == "tcp") return Transport::kTcp;
  if (name == "tls") return Transport::kTls;
  if (name == "kafka") return Transport::kKafka;
  return makeError(Error::Code::kInvalidArgument, "unknown sink transport '" + std::string(name) + "' (udp, tcp, tls, kafka)");
}

const char* transportName(Transport t) {
  switch (t) {
    case Transport::kUdp: return "udp";
    case Transport::kTcp: return "tcp";
    case Transport::kTls: return "tls";
    case Transport::kKafka: return "kafka";
  }
  return "?";
}

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
  for (const auto& n : list) {
    c.onlyKeys(n, {"name", "transport", "address", "topic", "format", "min_severity", "kinds", "spool_mb", "max_message",
                   "tls", "kafka"});
    SinkConfig s;
    if (!n["name"]) c.fail(n, "sink: missing 'name'");
    s.name = c.str(n["name"], "sink name");
    if (s.name.empty() || s.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") != std::string::npos ||
        s.name[0] == '.')
      c.fail(n["name"], "sink name '" + s.name + "': use letters, digits, '-', '_' and '.' (it names the spool folder)");
    if (!names.insert(s.name).second) c.fail(n["name"], "duplicate sink name '" + s.name + "'");
    if (!n["transport"]) c.fail(n, "sink '" + s.name + "': missing 'transport' (udp, tcp, tls, kafka)");
    auto t = parseTransport(c.str(n["transport"], "transport"));
    if (!t) c.fail(n["transport"], t.error().message);
    s.transport = *t;
    if (!n["address"]) c.fail(n, "sink '" + s.name + "': missing 'address'");
    s.address = c.str(n["address"], "address");
    if (s.transport == Transport::kKafka) {
      if (!n["topic"]) c.fail(n, "sink '" + s.name + "': a kafka sink needs 'topic'");
      s.topic = c.str(n["topic"], "topic");
      s.format = Format::kJson;
    } else {
      if (n["topic"]) c.fail(n["topic"], "sink '" + s.name + "': 'topic' is for kafka sinks only");
      if (auto hp = splitHostPort(s.address); !hp) c.fail(n["address"], hp.error().message);
    }
    if (n["format"]) {
      auto f = parseFormat(c.str(n["format"], "format"));
      if (!f) c.fail(n["format"], f.error().message);
      s.format = *f;
    }
    if (n["min_severity"]) s.min_severity = static_cast<uint32_t>(c.uint(n["min_severity"], "min_severity", 0, 10));
    if (n["kinds"]) s.kinds = c.strList(n["kinds"], "kinds");
    if (n["spool_mb"]) s.spool_bytes = c.uint(n["spool_mb"], "spool_mb", 1, 1u << 20) << 20;
    if (n["max_message"]) s.max_message = static_cast<uint32_t>(c.uint(n["max_message"], "max_message", 480, 1u << 20));
    if (n["tls"]) {
      if (s.transport != Transport::kTls) c.fail(n["tls"], "sink '" + s.name + "': 'tls' settings need transport: tls");
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
    if (n["kafka"]) {
      if (s.transport != Transport::kKafka) c.fail(n["kafka"], "sink '" + s.name + "': 'kafka' settings need transport: kafka");
      s.kafka_properties = c.strMap(n["kafka"], "kafka");
    }
    s.spool_dir = spoolDir + "/" + s.name;
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace goldgate::alerts
