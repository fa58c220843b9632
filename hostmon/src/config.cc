#include "config.h"

#include "goldgate/alerts/sink_config.h"
#include "goldgate/common/listen_address.h"
#include "goldgate/common/net_types.h"

#include <sys/un.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "goldgate/common/yaml_ctx.h"

namespace goldgate::hostmon {
namespace {

// A guest-physical address or length: decimal or 0x-prefixed hex.
uint64_t address(const yamlcfg::Ctx& c, const YAML::Node& n, const std::string& what, uint64_t min, uint64_t max) {
  std::string s = c.str(n, what.c_str());
  uint64_t v = 0;
  bool hex = s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
  const char* b = s.data() + (hex ? 2 : 0);
  auto [p, ec] = std::from_chars(b, s.data() + s.size(), v, hex ? 16 : 10);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size())
    c.fail(n, what + ": '" + s + "' is not a number (decimal or 0x hex)");
  if (v < min || v > max)
    c.fail(n, what + ": " + s + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  return v;
}

// start + length of a guest-physical region.
void region(const yamlcfg::Ctx& c, const YAML::Node& n, const std::string& what, uint64_t& start, uint64_t& length,
            uint64_t maxLength) {
  c.onlyKeys(n, {"start", "length"});
  if (n["start"]) start = address(c, n["start"], what + ".start", 0, 1ull << 52);
  if (n["length"]) length = address(c, n["length"], what + ".length", 4096, maxLength);
}

// name → SHA-256 (64 hex digits, stored lower case).
void goldHashes(const yamlcfg::Ctx& c, const YAML::Node& n, const std::string& what,
                std::map<std::string, std::string>& out) {
  if (!n.IsMap()) c.fail(n, what + ": expected a mapping of name: sha256");
  for (auto it = n.begin(); it != n.end(); ++it) {
    std::string name = c.str(it->first, what.c_str());
    std::string h = c.str(it->second, (what + "." + name).c_str());
    if (name.empty()) c.fail(it->first, what + ": an empty name");
    if (h.size() != 64 ||
        !std::all_of(h.begin(), h.end(), [](char ch) { return std::isxdigit(static_cast<unsigned char>(ch)) != 0; }))
      c.fail(it->second, what + "." + name + ": expected 64 hex digits (a SHA-256)");
    for (char& ch : h) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    out[name] = h;
  }
}

void parseCollect(const yamlcfg::Ctx& c, const YAML::Node& n, HostmonConfig& cfg) {
  c.onlyKeys(n, {"enabled", "agent_interval_ms", "agent_timeout_s", "agent_exec_deadline_ms", "agent_backoff_max_ms",
                 "agent_boot_grace_s", "agent_rehash_every", "memory_interval_ms", "memory_banner", "kernel_text",
                 "gold_text_sha256", "kernel_profiles", "memory_budget_ms"});
  if (n["enabled"]) cfg.collect.enabled = c.boolean(n["enabled"], "collect.enabled");
  if (n["agent_interval_ms"])
    cfg.collect.agent_interval_ms =
        static_cast<uint32_t>(c.uint(n["agent_interval_ms"], "collect.agent_interval_ms", 100, 3600000));
  if (n["agent_timeout_s"])
    cfg.agent.timeout_s = static_cast<int>(c.uint(n["agent_timeout_s"], "collect.agent_timeout_s", 1, 300));
  if (n["agent_exec_deadline_ms"])
    cfg.agent.exec_deadline_ms =
        static_cast<uint32_t>(c.uint(n["agent_exec_deadline_ms"], "collect.agent_exec_deadline_ms", 100, 600000));
  if (n["agent_rehash_every"])
    cfg.agent.rehash_every =
        static_cast<uint32_t>(c.uint(n["agent_rehash_every"], "collect.agent_rehash_every", 1, 100000));
  if (n["agent_boot_grace_s"])
    cfg.collect.agent_boot_grace_s =
        static_cast<uint32_t>(c.uint(n["agent_boot_grace_s"], "collect.agent_boot_grace_s", 0, 3600));
  if (n["agent_backoff_max_ms"])
    cfg.collect.agent_backoff_max_ms =
        static_cast<uint32_t>(c.uint(n["agent_backoff_max_ms"], "collect.agent_backoff_max_ms", 100, 3600000));
  if (cfg.collect.agent_backoff_max_ms < cfg.collect.agent_interval_ms)
    c.fail(n["agent_backoff_max_ms"] ? n["agent_backoff_max_ms"] : n,
           "collect.agent_backoff_max_ms: " + std::to_string(cfg.collect.agent_backoff_max_ms) +
               " is less than agent_interval_ms " + std::to_string(cfg.collect.agent_interval_ms));
  if (n["memory_interval_ms"])
    cfg.collect.memory_interval_ms =
        static_cast<uint32_t>(c.uint(n["memory_interval_ms"], "collect.memory_interval_ms", 500, 86400000));
  if (n["memory_banner"])
    region(c, n["memory_banner"], "collect.memory_banner", cfg.memory.banner_start, cfg.memory.banner_length,
           1ull << 30);
  if (n["kernel_text"]) {
    region(c, n["kernel_text"], "collect.kernel_text", cfg.memory.text_start, cfg.memory.text_length, 64ull << 20);
    cfg.memory.physical_range = true;  // the override: a fixed physical range instead of introspection
  }
  if (n["memory_banner"] && !n["kernel_text"])
    c.fail(n["memory_banner"],
           "collect.memory_banner: only used with collect.kernel_text (the physical-range "
           "override); introspection finds the kernel and its banner itself");
  if (n["kernel_profiles"]) {
    cfg.memory.profiles_dir = c.str(n["kernel_profiles"], "collect.kernel_profiles");
    if (cfg.memory.profiles_dir.empty() || cfg.memory.profiles_dir[0] != '/')
      c.fail(n["kernel_profiles"], "collect.kernel_profiles: expected an absolute folder path");
  }
  if (n["memory_budget_ms"])
    cfg.memory.budget_ms = static_cast<uint32_t>(c.uint(n["memory_budget_ms"], "collect.memory_budget_ms", 10, 600000));
  // The banner is searched for in the kernel image only: memory below the kernel is the guest's to
  // write, and a "Linux version " string planted there would be found first.
  if (cfg.memory.banner_start < cfg.memory.text_start) {
    char buf[96];
    std::snprintf(buf, sizeof buf, " (0x%llx) is below collect.kernel_text.start (0x%llx)",
                  static_cast<unsigned long long>(cfg.memory.banner_start),
                  static_cast<unsigned long long>(cfg.memory.text_start));
    c.fail(n["memory_banner"] ? n["memory_banner"] : n,
           std::string("collect.memory_banner.start") + buf +
               ": the banner is searched for in the kernel image only (memory below it is the guest's to write)");
  }
  if (auto g = n["gold_text_sha256"]) {
    c.onlyKeys(g, {"by_vm", "by_manifest"});
    if (g["by_vm"]) goldHashes(c, g["by_vm"], "collect.gold_text_sha256.by_vm", cfg.memory.gold_by_vm);
    if (g["by_manifest"])
      goldHashes(c, g["by_manifest"], "collect.gold_text_sha256.by_manifest", cfg.memory.gold_by_manifest);
  }
}

}  // namespace

namespace {

// A Unix socket path: absolute, and short enough for sockaddr_un.
std::string socketPath(const yamlcfg::Ctx& c, const YAML::Node& n, const std::string& key) {
  std::string p = c.str(n, key.c_str());
  if (p.empty() || p[0] != '/') c.fail(n, key + ": '" + p + "' is not an absolute path");
  if (p.size() >= sizeof(sockaddr_un{}.sun_path))
    c.fail(n, key + ": longer than " + std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes");
  return p;
}

std::string absolutePath(const yamlcfg::Ctx& c, const YAML::Node& n, const std::string& key) {
  std::string p = c.str(n, key.c_str());
  if (p.empty() || p[0] != '/') c.fail(n, key + ": '" + p + "' is not an absolute path");
  return p;
}

void parseAttest(const yamlcfg::Ctx& c, const YAML::Node& n, AttestConfig& a) {
  c.onlyKeys(n, {"manifests", "keys", "threshold", "state_file", "reload_interval_ms", "zones"});
  if (n["manifests"]) a.manifests = absolutePath(c, n["manifests"], "attest.manifests");
  if (auto k = n["keys"]) {
    if (!k.IsSequence()) c.fail(k, "attest.keys: expected a list of public key files");
    for (const auto& e : k) a.keys.push_back(absolutePath(c, e, "attest.keys"));
  }
  if (n["threshold"]) a.threshold = static_cast<uint32_t>(c.uint(n["threshold"], "attest.threshold", 1, 16));
  if (n["state_file"]) a.state_file = absolutePath(c, n["state_file"], "attest.state_file");
  if (n["reload_interval_ms"])
    a.reload_interval_ms =
        static_cast<uint32_t>(c.uint(n["reload_interval_ms"], "attest.reload_interval_ms", 100, 3600000));
  if (auto z = n["zones"]) {
    if (!z.IsSequence()) c.fail(z, "attest.zones: expected a list of {name, cidrs}");
    for (const auto& e : z) {
      c.onlyKeys(e, {"name", "cidrs"});
      AttestConfig::Zone zone;
      zone.name = c.str(e["name"], "attest.zones.name");
      if (zone.name.empty()) c.fail(e, "attest.zones: a zone needs a name");
      if (!e["cidrs"] || !e["cidrs"].IsSequence())
        c.fail(e, "attest.zones." + zone.name + ".cidrs: expected a list of prefixes");
      for (const auto& p : e["cidrs"]) {
        std::string t = c.str(p, "attest.zones.cidrs");
        if (!Cidr::parse(t))
          c.fail(p, "attest.zones." + zone.name + ": '" + t + "' is not a prefix (host bits must be zero)");
        zone.cidrs.push_back(t);
      }
      a.zones.push_back(std::move(zone));
    }
  }
  if (!a.manifests.empty() && a.keys.empty())
    c.fail(n, "attest.manifests is set but attest.keys lists no trusted signer");
  if (a.threshold > a.keys.size() && !a.keys.empty())
    c.fail(n["threshold"], "attest.threshold: " + std::to_string(a.threshold) + " is more than the " +
                               std::to_string(a.keys.size()) + " keys listed");
}

}  // namespace

Result<HostmonConfig> parseHostmonConfig(const std::string& text, const std::string& name) {
  HostmonConfig cfg;
  cfg.source_file = name;
  try {
    yamlcfg::Ctx c(name);
    YAML::Node root = yamlcfg::loadYaml(text, name);
    // An empty file is a valid configuration: every default applies.
    if (!root || root.IsNull()) return cfg;
    c.onlyKeys(root, {"libvirt", "control", "switch", "collect", "alerts", "attest", "metrics"});
    if (auto lv = root["libvirt"]) {
      c.onlyKeys(lv, {"uri", "readonly", "reconnect", "keepalive"});
      if (lv["uri"]) {
        cfg.libvirt.uri = c.str(lv["uri"], "libvirt.uri");
        if (cfg.libvirt.uri.empty()) c.fail(lv["uri"], "libvirt.uri: must not be empty");
      }
      if (lv["readonly"]) cfg.libvirt.readonly = c.boolean(lv["readonly"], "libvirt.readonly");
      if (auto rc = lv["reconnect"]) {
        c.onlyKeys(rc, {"min_ms", "max_ms"});
        if (rc["min_ms"])
          cfg.libvirt.reconnect_min_ms =
              static_cast<uint32_t>(c.uint(rc["min_ms"], "libvirt.reconnect.min_ms", 10, 60000));
        if (rc["max_ms"])
          cfg.libvirt.reconnect_max_ms =
              static_cast<uint32_t>(c.uint(rc["max_ms"], "libvirt.reconnect.max_ms", 10, 3600000));
        if (cfg.libvirt.reconnect_max_ms < cfg.libvirt.reconnect_min_ms)
          c.fail(rc["max_ms"] ? rc["max_ms"] : rc,
                 "libvirt.reconnect.max_ms: " + std::to_string(cfg.libvirt.reconnect_max_ms) + " is less than min_ms " +
                     std::to_string(cfg.libvirt.reconnect_min_ms));
      }
      if (auto ka = lv["keepalive"]) {
        c.onlyKeys(ka, {"interval_s", "count"});
        if (ka["interval_s"])
          cfg.libvirt.keepalive_interval_s =
              static_cast<int>(c.uint(ka["interval_s"], "libvirt.keepalive.interval_s", 1, 600));
        if (ka["count"])
          cfg.libvirt.keepalive_count = static_cast<unsigned>(c.uint(ka["count"], "libvirt.keepalive.count", 1, 100));
      }
    }
    if (auto ct = root["control"]) {
      c.onlyKeys(ct, {"socket", "group"});
      if (ct["socket"]) {
        cfg.control_socket = socketPath(c, ct["socket"], "control.socket");
      }
      if (ct["group"]) cfg.control_group = c.str(ct["group"], "control.group");
    }
    if (auto sw = root["switch"]) {
      c.onlyKeys(sw, {"push", "socket", "interval_ms"});
      if (sw["push"]) cfg.switch_push = c.boolean(sw["push"], "switch.push");
      if (sw["socket"]) {
        cfg.switch_socket = socketPath(c, sw["socket"], "switch.socket");
      }
      if (sw["interval_ms"])
        cfg.switch_interval_ms = static_cast<uint32_t>(c.uint(sw["interval_ms"], "switch.interval_ms", 100, 600000));
    }
    if (auto co = root["collect"]) parseCollect(c, co, cfg);
    if (auto al = root["alerts"]) {
      c.onlyKeys(al, {"file", "window_ms", "spool_dir", "sinks"});
      if (al["spool_dir"]) cfg.alerts_spool_dir = c.str(al["spool_dir"], "alerts.spool_dir");
      if (al["sinks"]) cfg.alerts_sinks = alerts::parseSinks(c, al["sinks"], cfg.alerts_spool_dir);
      if (al["file"]) {
        cfg.alerts_file = c.str(al["file"], "alerts.file");
        if (cfg.alerts_file.empty() || cfg.alerts_file[0] != '/')
          c.fail(al["file"], "alerts.file: '" + cfg.alerts_file + "' is not an absolute path");
      }
      if (al["window_ms"])
        cfg.alerts_window_ms = static_cast<uint32_t>(c.uint(al["window_ms"], "alerts.window_ms", 0, 3600000));
    }
    if (auto at = root["attest"]) parseAttest(c, at, cfg.attest);
    if (auto m = root["metrics"]) {
      c.onlyKeys(m, {"listen"});
      if (m["listen"]) {
        cfg.metrics_listen = c.str(m["listen"], "metrics.listen");
        if (cfg.metrics_listen == "off") cfg.metrics_listen.clear();
        if (!cfg.metrics_listen.empty() && !validListen(cfg.metrics_listen))
          c.fail(m["listen"], "metrics.listen: '" + cfg.metrics_listen + "' is not HOST:PORT (e.g. 127.0.0.1:9108)");
      }
    }
  } catch (const yamlcfg::ConfigError& e) {
    return makeError(Error::Code::kParse, e.message);
  } catch (const YAML::Exception& e) {
    return makeError(Error::Code::kParse, name + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return cfg;
}

Result<HostmonConfig> loadHostmonConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return makeError(Error::Code::kIo, path + ": cannot read the configuration file");
  std::stringstream ss;
  ss << in.rdbuf();
  return parseHostmonConfig(ss.str(), path);
}

}  // namespace goldgate::hostmon
