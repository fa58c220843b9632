// goldgatectl's attestation commands served by goldgate-hostmon: manifest learn, manifests,
// report, vm release; and policy from-manifests (offline).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "goldgate/common/result.h"

namespace goldgate::cli {

struct AttestCommands {
  CLI::App* learn = nullptr;
  CLI::App* manifests = nullptr;
  CLI::App* report = nullptr;
  CLI::App* release = nullptr;
  CLI::App* approve = nullptr;
  uint64_t actionId = 0;  // approve --id
  CLI::App* fromManifests = nullptr;
  std::string vm;
  std::string duration = "60s";           // learn --for
  std::string app;                        // learn --app
  std::string out;                        // learn --out, report --html, from-manifests --out
  bool force = false;                     // learn: overwrite --out
  std::string html;                       // report --html FILE
  bool allProcesses = false;              // report --processes
  std::string by;                         // release --by
  std::string dir = "configs/manifests";  // from-manifests: folder of manifests
  std::vector<std::string> pubs;          // from-manifests --pub: only manifests signed by these keys
  unsigned threshold = 1;
  bool unsignedOk = false;  // from-manifests --unsigned
  std::string config;       // from-manifests --config: the switch configuration (zones)
};

/// Adds the commands to `app` (learn under the existing `manifest` group, release under `vm`,
/// from-manifests under `policy`; the groups must exist). Main thread, before parsing.
void addAttestCommands(CLI::App& app, AttestCommands& o, bool& json, std::string& hostmonSocket);

/// Runs the command that was parsed; nullopt if none of these was given. Main thread.
std::optional<int> runAttestCommand(const AttestCommands& o, bool json, const std::string& hostmonSocket);

/// "30s", "5m", "1h", "1h30m", "1500ms" (a bare number: seconds) → milliseconds. Errors
/// (kInvalidArgument, naming the text): empty, no number, a number without a unit after another,
/// an unknown unit, zero, overflow. Any thread.
Result<uint64_t> parseDuration(const std::string& text);

}  // namespace goldgate::cli
