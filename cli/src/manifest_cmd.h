// goldgatectl manifest keygen | sign | verify | show | diff: birth certificates offline.
#pragma once

#include <CLI/CLI.hpp>

#include <optional>
#include <string>
#include <vector>

namespace goldgate::cli {

/// The parsed options of the manifest commands and which one was chosen.
struct ManifestCommands {
  CLI::App* keygen = nullptr;
  CLI::App* sign = nullptr;
  CLI::App* verify = nullptr;
  CLI::App* show = nullptr;
  CLI::App* diff = nullptr;
  std::string key;                 // keygen --out, sign --key
  bool force = false;              // keygen: replace existing key files
  bool replace = false;            // sign: replace an envelope over other bytes
  std::vector<std::string> pubs;   // verify --pub
  unsigned threshold = 1;          // verify --threshold
  std::string state;               // verify --state (version store)
  bool accept = false;             // verify --accept: record the version in --state
  std::string at;                  // verify --at: verify as of this time instead of now
  bool json = false;               // show --json
  std::vector<std::string> files;  // FILE, or OLD NEW
};

/// Adds `manifest` and its subcommands (with help for each) to `app`; `o` receives the options.
/// Main thread, before parsing.
void addManifestCommands(CLI::App& app, ManifestCommands& o);

/// Runs the manifest command that was parsed and returns its exit code, or nullopt when no
/// manifest command was given. `json` is goldgatectl's global --json (as show --json). Main thread.
std::optional<int> runManifestCommand(const ManifestCommands& o, bool json);

}  // namespace goldgate::cli
