// Static SA key files: the format as `ip xfrm` takes rfc4106(gcm(aes)) keys, every error with
// file:line, and refusal of a file others may read.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <fstream>

#include "goldgate/crypto/sa_file.h"
#include "temp_dir.h"

using namespace goldgate::crypto;

namespace {
const char* kKey = "0x000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fcafebabe";
const char* kKey2 = "0x202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f0badf00d";
}  // namespace

TEST_CASE("Static SA file parses out and in SAs", "[crypto][sa]") {
  std::string text = std::string("sas:\n  - {peer: b, direction: out, spi: 0x1001, key: ") + kKey +
                     "}\n  - {peer: b, direction: in, spi: 4098, key: " + kKey2 + ", esn: false}\n";
  auto r = parseStaticSas(text, "sa.yaml");
  REQUIRE(r);
  REQUIRE(r->size() == 2);
  CHECK((*r)[0].spi == 0x1001);
  CHECK((*r)[0].direction == StaticSa::Direction::kOut);
  CHECK((*r)[0].esn);
  CHECK((*r)[0].key[0] == 0x00);
  CHECK((*r)[0].key[31] == 0x1f);
  CHECK((*r)[0].key[32] == 0xca);
  CHECK((*r)[0].key[35] == 0xbe);
  CHECK((*r)[1].spi == 4098);
  CHECK_FALSE((*r)[1].esn);
  CHECK((*r)[1].line == 3);
}

TEST_CASE("Static SA file errors name the line", "[crypto][sa]") {
  struct Bad {
    std::string body;
    const char* want;
  };
  const std::string k = kKey, k2 = kKey2;
  const Bad cases[] = {
      {"sas: 3\n", "sa.yaml:1: sas: expected a list"},
      {"other: 1\n", "unknown key 'other'"},
      {"sas:\n  - {peer: b, direction: out, spi: 0x1001}\n", "sa.yaml:2: missing 'key'"},
      {"sas:\n  - {peer: b, direction: up, spi: 0x1001, key: " + k + "}\n", "direction: expected 'in' or 'out'"},
      {"sas:\n  - {peer: b, direction: out, spi: 255, key: " + k + "}\n", "reserved by RFC 4303"},
      {"sas:\n  - {peer: b, direction: out, spi: 0x100000000, key: " + k + "}\n", "out of range"},
      {"sas:\n  - {peer: b, direction: out, spi: abc, key: " + k + "}\n", "is not a number"},
      {"sas:\n  - {peer: b, direction: out, spi: 300, key: 0x0011}\n", "72 hex digits"},
      {"sas:\n  - {peer: b, direction: out, spi: 300, key: " + k.substr(0, 73) + "g}\n", "not a hex digit"},
      {"sas:\n  - {peer: b, direction: in, spi: 300, key: " + k +
           "}\n  - {peer: c, direction: in, spi: 300, key: " + k2 + "}\n",
       "sa.yaml:3: spi: 300 is used by another inbound SA"},
      {"sas:\n  - {peer: b, direction: out, spi: 300, key: " + k +
           "}\n  - {peer: b, direction: out, spi: 301, key: " + k2 + "}\n",
       "second outbound SA"},
      {"sas:\n  - {peer: b, direction: out, spi: 300, key: " + k +
           "}\n  - {peer: b, direction: in, spi: 301, key: " + k + "}\n",
       "sa.yaml:3: key: used by another SA"},
      {"sas:\n  - {peer: b, direction: out, spi: 300, key: " + k + ", esn: maybe}\n", "esn: expected true or false"},
      {"sas: [\n", "YAML syntax error"},
  };
  for (const auto& c : cases) {
    auto r = parseStaticSas(c.body, "sa.yaml");
    INFO(c.body);
    REQUIRE_FALSE(r);
    CHECK_THAT(r.error().message, Catch::Contains(c.want));
    // A refused key is never echoed back.
    CHECK_THAT(r.error().message, !Catch::Contains("0405060708"));
  }
}

TEST_CASE("A key file open to group or others is refused", "[crypto][sa]") {
  goldgate::test::TempDir dir;
  std::string path = (dir.path() / "sa.yaml").string();
  { std::ofstream(path) << "sas:\n  - {peer: b, direction: out, spi: 300, key: " << kKey << "}\n"; }
  chmod(path.c_str(), 0644);
  auto r = loadStaticSas(path);
  REQUIRE_FALSE(r);
  CHECK_THAT(r.error().message, Catch::Contains("permissions 0644 are too open"));
  chmod(path.c_str(), 0600);
  auto ok = loadStaticSas(path);
  REQUIRE(ok);
  CHECK(ok->size() == 1);
  CHECK_FALSE(loadStaticSas((dir.path() / "missing.yaml").string()));
}
