#include "goldgate/hostmon/config.h"

#include <sys/un.h>

#include <fstream>
#include <sstream>

#include "goldgate/common/yaml_ctx.h"

namespace goldgate::hostmon {

namespace {

// A Unix socket path: absolute, and short enough for sockaddr_un.
std::string socketPath(const yamlcfg::Ctx& c, const YAML::Node& n, const std::string& key) {
  std::string p = c.str(n, key.c_str());
  if (p.empty() || p[0] != '/') c.fail(n, key + ": '" + p + "' is not an absolute path");
  if (p.size() >= sizeof(sockaddr_un{}.sun_path))
    c.fail(n, key + ": longer than " + std::to_string(sizeof(sockaddr_un{}.sun_path) - 1) + " bytes");
  return p;
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
    c.onlyKeys(root, {"libvirt", "control", "switch"});
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
          cfg.libvirt.reconnect_min_ms = static_cast<uint32_t>(c.uint(rc["min_ms"], "libvirt.reconnect.min_ms", 10, 60000));
        if (rc["max_ms"])
          cfg.libvirt.reconnect_max_ms = static_cast<uint32_t>(c.uint(rc["max_ms"], "libvirt.reconnect.max_ms", 10, 3600000));
        if (cfg.libvirt.reconnect_max_ms < cfg.libvirt.reconnect_min_ms)
          c.fail(rc["max_ms"] ? rc["max_ms"] : rc, "libvirt.reconnect.max_ms: " + std::to_string(cfg.libvirt.reconnect_max_ms) +
                                                       " is less than min_ms " + std::to_string(cfg.libvirt.reconnect_min_ms));
      }
      if (auto ka = lv["keepalive"]) {
        c.onlyKeys(ka, {"interval_s", "count"});
        if (ka["interval_s"])
          cfg.libvirt.keepalive_interval_s = static_cast<int>(c.uint(ka["interval_s"], "libvirt.keepalive.interval_s", 1, 600));
        if (ka["count"]) cfg.libvirt.keepalive_count = static_cast<unsigned>(c.uint(ka["count"], "libvirt.keepalive.count", 1, 100));
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
