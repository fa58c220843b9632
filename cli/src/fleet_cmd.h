// goldgatectl fleet push | diff | history | rollback | status: the fleet's signed policy in etcd
// (docs/fleet.md).
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

namespace goldgate::cli {

struct FleetCommands {
  CLI::App* push = nullptr;
  CLI::App* diff = nullptr;
  CLI::App* history = nullptr;
  CLI::App* rollback = nullptr;
  CLI::App* status = nullptr;
  std::vector<std::string> endpoints;  // --etcd (GOLDGATE_ETCD_ENDPOINTS, comma-separated)
  std::string ca, cert, key;           // --etcd-ca, --etcd-cert, --etcd-key
  std::string user, password_file;     // --etcd-user, --etcd-password-file
  std::string prefix = "/goldgate";
  std::string dir;                // push, diff: the policy folder
  std::vector<std::string> keys;  // push, rollback: signing keys (several: threshold)
  std::string message;            // push, rollback: --message
  std::string expires = "90d";    // push, rollback: how long hosts accept the bundle
  uint64_t to = 0;                // rollback --to N
};

/// Adds `fleet` and its subcommands to `app`. Main thread, before parsing.
void addFleetCommands(CLI::App& app, FleetCommands& o);

/// Runs the fleet command parsed (nullopt: none). Exit codes: 0 done, 1 etcd or signing failed,
/// 2 bad input (named), 3 push refused: another version was pushed at the same time (run it again).
std::optional<int> runFleetCommand(const FleetCommands& o, bool json);

}  // namespace goldgate::cli
