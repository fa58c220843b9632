// The `alerts.sinks` list of a configuration file, shared by goldgate-switch and goldgate-hostmon:
// each sink's keys are read and checked here (file:line errors), so every daemon that writes alerts
// can also send them to SIEMs. Values only: a daemon's configuration holds its sinks without the
// senders, the spool or the event (those are sink.h, in goldgate_alerts; this is goldgate_alerts_config).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "goldgate/alerts/format.h"
#include "goldgate/common/result.h"

// parseSinks takes them by reference: their callers include goldgate/common/yaml_ctx.h, the
// configuration's holders need not.
namespace YAML {
class Node;
}
namespace goldgate::yamlcfg {
class Ctx;
}

namespace goldgate::alerts {

enum class Transport { kUdp, kTcp, kTls, kKafka };

/// "udp", "tcp", "tls", "kafka". Errors: unknown name, listing the known ones.
Result<Transport> parseTransport(std::string_view name);
const char* transportName(Transport t);

/// Splits "host:port" / "[v6]:port". Errors: no port, port out of range.
Result<std::pair<std::string, std::string>> splitHostPort(const std::string& address);

struct TlsOptions {
  std::string ca_file;      // PEM bundle the server certificate must chain to (empty: system store)
  std::string cert_file;    // optional client certificate chain (PEM)
  std::string key_file;     // its private key (PEM)
  std::string server_name;  // name checked against the certificate and sent as SNI (default: the host)
};

struct SinkConfig {
  std::string name;
  Transport transport = Transport::kTcp;
  std::string address;  // "host:port" or "[v6]:port" (syslog); "broker:port,…" (kafka)
  std::string topic;    // kafka
  std::map<std::string, std::string> kafka_properties;  // extra librdkafka settings
  Format format = Format::kRfc5424;
  uint32_t min_severity = 0;
  std::vector<std::string> kinds;  // empty: every kind; "x.*" matches a prefix
  std::string spool_dir;           // this sink's own folder
  uint64_t spool_bytes = 64ull << 20;
  uint32_t max_message = 8192;  // RFC 5424 records are cut to this (MSG only)
  TlsOptions tls;
};

/// Reads `alerts.sinks` (a list of sinks: name, transport, address, topic, format, min_severity,
/// kinds, spool_mb, max_message, tls, kafka). Each sink spools in `spoolDir`/<name>. Relative TLS
/// file names are taken from the configuration file's folder. Fails through `c` (file:line).
std::vector<SinkConfig> parseSinks(const yamlcfg::Ctx& c, const YAML::Node& list, const std::string& spoolDir);

}  // namespace goldgate::alerts
