// goldgate-hostmon's configuration file (configs/hostmon.yaml), parsed once into a validated struct.
#pragma once

#include <string>
#include <vector>

#include "agent_collector.h"
#include "collect_scheduler.h"
#include "goldgate/alerts/sink_config.h"
#include "goldgate/common/result.h"
#include "goldgate/hostmon/client.h"
#include "libvirt_monitor.h"
#include "memory_collector.h"

namespace goldgate::hostmon {

/// attest.*: the manifests VMs are judged against, and who may sign them.
struct AttestConfig {
  std::string manifests;          // folder of APP.yaml + APP.yaml.sig; "" = no attestation
  std::vector<std::string> keys;  // trusted signers' public keys (PEM)
  uint32_t threshold = 1;         // distinct trusted signatures a manifest needs
  std::string state_file;         // accepted versions (rollback protection); "" = beside nothing: kept in memory only
  uint32_t reload_interval_ms = 5000;  // the folder is read again this often (changed files only)
  struct Zone {
    std::string name;
    std::vector<std::string> cidrs;
  };
  std::vector<Zone> zones;  // named address sets for manifests' `zone:` peers
};

struct HostmonConfig {
  MonitorOptions libvirt;  // log is left empty: main() sets it
  std::string control_socket = kDefaultHostmonSocket;
  std::string control_group;  // group (besides root) allowed on the control socket
  // Pushing VM identity to goldgate-switch (switch_sync.h).
  bool switch_push = true;
  std::string switch_socket = "/run/goldgate/switch.sock";
  uint32_t switch_interval_ms = 1000;
  CollectOptions collect;         // collect.enabled, *_interval_ms, agent_backoff_max_ms
  AgentCollectorOptions agent;    // collect.agent_timeout_s, agent_exec_deadline_ms (functions left empty)
  MemoryCollectorOptions memory;  // collect.memory_banner, kernel_text, gold_text_sha256
  std::string alerts_file;        // empty: observations are logged to stderr only
  uint32_t alerts_window_ms = 10000;
  std::string alerts_spool_dir = "/var/lib/goldgate/hostmon-spool";  // each sink spools in <dir>/<sink name>
  std::vector<alerts::SinkConfig> alerts_sinks;  // SIEM sinks (syslog over UDP/TCP/TLS, Kafka), as the switch's
  AttestConfig attest;
  std::string metrics_listen = "127.0.0.1:9108";  // metrics.listen: Prometheus metrics on HOST:PORT; "": none
  std::string source_file;
};

/// Parses configuration text; `name` is used in error messages. Errors (kParse) read
/// "name:line: reason": YAML syntax, unknown keys, wrong types, values out of range. Any thread.
Result<HostmonConfig> parseHostmonConfig(const std::string& text, const std::string& name);

/// Reads and parses a configuration file. Errors: the file cannot be read (kIo), or as above.
Result<HostmonConfig> loadHostmonConfig(const std::string& path);

}  // namespace goldgate::hostmon
