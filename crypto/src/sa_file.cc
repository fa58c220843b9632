#include "goldgate/crypto/sa_file.h"

#include <openssl/crypto.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "goldgate/common/files.h"
#include "goldgate/common/yaml_ctx.h"

namespace goldgate::crypto {

StaticSa::~StaticSa() { OPENSSL_cleanse(key.data(), key.size()); }

namespace {

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<std::vector<StaticSa>> parseStaticSas(const std::string& text, const std::string& name) {
  using yamlcfg::ConfigError;
  using yamlcfg::Ctx;
  Ctx c(name);
  std::vector<StaticSa> out;
  try {
    YAML::Node root = yamlcfg::loadYaml(text, name);
    if (!root || root.IsNull()) c.failAt(1, "empty key file (expected 'sas:')");
    c.onlyKeys(root, {"sas"});
    YAML::Node list = root["sas"];
    if (!list || !list.IsSequence()) c.fail(list ? list : root, "sas: expected a list of security associations");
    std::set<uint32_t> inbound;
    std::set<std::string> outbound;
    std::vector<std::array<uint8_t, 36>> keys;
    for (const auto& n : list) {
      c.onlyKeys(n, {"peer", "direction", "spi", "key", "esn"});
      StaticSa sa;
      sa.line = Ctx::lineOf(n);
      for (const char* k : {"peer", "direction", "spi", "key"})
        if (!n[k]) c.fail(n, std::string("missing '") + k + "'");
      sa.peer = c.str(n["peer"], "peer");
      if (sa.peer.empty()) c.fail(n["peer"], "peer: empty name");
      std::string dir = c.str(n["direction"], "direction");
      if (dir == "out") sa.direction = StaticSa::Direction::kOut;
      else if (dir == "in") sa.direction = StaticSa::Direction::kIn;
      else c.fail(n["direction"], "direction: expected 'in' or 'out', got '" + dir + "'");
      std::string spi = c.str(n["spi"], "spi");
      unsigned long long v = 0;
      char* end = nullptr;
      errno = 0;
      v = std::strtoull(spi.c_str(), &end, 0);
      if (spi.empty() || *end != 0 || errno != 0 || spi[0] == '-')
        c.fail(n["spi"], "spi: '" + spi + "' is not a number");
      if (v < 256 || v > 0xffffffffull)
        c.fail(n["spi"], "spi: " + spi + " is out of range [256, 4294967295] (0-255 are reserved by RFC 4303)");
      sa.spi = static_cast<uint32_t>(v);
      std::string key = c.str(n["key"], "key");
      if (key.size() != 2 + 72 || key[0] != '0' || (key[1] != 'x' && key[1] != 'X')) {
        OPENSSL_cleanse(key.data(), key.size());
        c.fail(n["key"], "key: expected 0x followed by 72 hex digits (32-byte AES-256 key and 4-byte salt)");
      }
      for (size_t i = 0; i < 36; ++i) {
        int hi = hexDigit(key[2 + 2 * i]), lo = hexDigit(key[3 + 2 * i]);
        if (hi < 0 || lo < 0) {
          OPENSSL_cleanse(key.data(), key.size());
          c.fail(n["key"], "key: not a hex digit at position " + std::to_string(3 + 2 * i));
        }
        sa.key[i] = static_cast<uint8_t>(hi << 4 | lo);
      }
      OPENSSL_cleanse(key.data(), key.size());
      if (n["esn"]) sa.esn = c.boolean(n["esn"], "esn");
      // One key, one SA: with the sequence number as IV, a key used twice (both directions, two
      // peers) would repeat GCM nonces, which gives the key away.
      for (const auto& k : keys)
        if (CRYPTO_memcmp(k.data(), sa.key.data(), 32) == 0)
          c.fail(n["key"], "key: used by another SA; every SA needs its own key");
      keys.push_back(sa.key);
      if (sa.direction == StaticSa::Direction::kIn && !inbound.insert(sa.spi).second)
        c.fail(n["spi"], "spi: " + spi + " is used by another inbound SA");
      if (sa.direction == StaticSa::Direction::kOut && !outbound.insert(sa.peer).second)
        c.fail(n, "peer '" + sa.peer + "' has a second outbound SA (one per peer)");
      out.push_back(sa);
    }
    for (auto& k : keys) OPENSSL_cleanse(k.data(), k.size());
  } catch (const ConfigError& e) {
    return makeError(Error::Code::kParse, e.message);
  } catch (const YAML::Exception& e) {
    return makeError(Error::Code::kParse, name + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return out;
}

Result<std::vector<StaticSa>> loadStaticSas(const std::string& path) {
  if (auto ok = goldgate::checkPrivateFile(path); !ok) return ok.error();
  std::ifstream in(path, std::ios::binary);
  if (!in) return makeError(Error::Code::kIo, path + ": cannot open: " + std::strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  auto r = parseStaticSas(text, path);
  OPENSSL_cleanse(text.data(), text.size());
  return r;
}

}  // namespace goldgate::crypto
