// The `alerts.sinks` list of a configuration file, shared by goldgate-switch and goldgate-hostmon:
// each sink's keys are read and checked here (file:line errors), so every daemon that writes alerts
// can also send them to SIEMs.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>
#include <vector>

#include "goldgate/alerts/sink.h"
#include "goldgate/common/yaml_ctx.h"

namespace goldgate::alerts {

/// Reads `alerts.sinks` (a list of sinks: name, transport, address, topic, format, min_severity,
/// kinds, spool_mb, max_message, tls, kafka). Each sink spools in `spoolDir`/<name>. Relative TLS
/// file names are taken from the configuration file's folder. Fails through `c` (file:line).
std::vector<SinkConfig> parseSinks(const yamlcfg::Ctx& c, const YAML::Node& list, const std::string& spoolDir);

}  // namespace goldgate::alerts
