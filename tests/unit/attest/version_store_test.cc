#include "goldgate/attest/version_store.h"

#include <catch2/catch.hpp>

#include <filesystem>

#include "expect_table.h"
#include "temp_dir.h"

using namespace goldgate;
using namespace goldgate::attest;
namespace fs = std::filesystem;

TEST_CASE("the version store refuses rollbacks and survives a restart", "[attest][rollback]") {
  test::TempDir dir;
  const std::string path = (dir.path() / "versions").string();
  auto store = VersionStore::open(path);
  REQUIRE(store.has_value());
  CHECK_FALSE(store->accepted("shop-web").has_value());
  CHECK(store->check("shop-web", 1, "m.yaml").has_value());
  CHECK_FALSE(fs::exists(path));  // nothing written until something is accepted

  REQUIRE(store->accept("shop-web", 3).has_value());
  REQUIRE(store->accept("shop-db", 12).has_value());
  CHECK(store->check("shop-web", 3, "m.yaml").has_value());  // the same version again is fine
  CHECK(store->check("shop-web", 4, "m.yaml").has_value());
  auto old = store->check("shop-web", 2, "m.yaml");
  REQUIRE_FALSE(old.has_value());
  CHECK(old.error().reason == RejectReason::kRollback);
  CHECK(old.error().message == "m.yaml: rollback: version 2 of shop-web is older than the accepted version 3");

  auto back = store->accept("shop-web", 2);
  REQUIRE_FALSE(back.has_value());
  CHECK(back.error().code == Error::Code::kInvalidArgument);
  CHECK(*store->accepted("shop-web") == 3);

  auto reopened = VersionStore::open(path);
  REQUIRE(reopened.has_value());
  CHECK(*reopened->accepted("shop-web") == 3);
  CHECK(*reopened->accepted("shop-db") == 12);
  CHECK_FALSE(reopened->check("shop-db", 11, "db.yaml").has_value());
  CHECK_FALSE(fs::exists(path + ".tmp"));
  CHECK(test::readText(path) == "# goldgate: accepted manifest versions (app version)\nshop-db 12\nshop-web 3\n");
}

TEST_CASE("a version store that cannot be written keeps its state", "[attest][rollback]") {
  test::TempDir dir;
  auto store = VersionStore::open((dir.path() / "gone" / "versions").string());
  REQUIRE(store.has_value());
  auto r = store->accept("shop-web", 3);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == Error::Code::kIo);
  CHECK_FALSE(store->accepted("shop-web").has_value());
}

TEST_CASE("a corrupt version store is refused with file:line", "[attest][rollback]") {
  test::TempDir dir;
  struct Case {
    const char* text;
    const char* message;
  } cases[] = {
      {"shop-web 3\nshop-db\n", "v:2: expected '<app> <version>'"},
      {"# c\n\nshop-web 3 4\n", "v:3: expected '<app> <version>'"},
      {"Shop 3\n", "v:1: 'Shop' is not an application name"},
      {"shop-web three\n", "v:1: 'three' is not a version"},
      {"shop-web 0\n", "v:1: '0' is not a version"},
      {"shop-web -1\n", "v:1: '-1' is not a version"},
      {"shop-web 3\nshop-web 4\n", "v:2: 'shop-web' is listed twice"},
  };
  for (const auto& c : cases) {
    dir.write("v", c.text);
    auto r = VersionStore::open((dir.path() / "v").string());
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == Error::Code::kParse);
    CHECK_THAT(r.error().message, Catch::Matchers::Contains(std::string("/") + c.message));
  }
  dir.write("ok", "# comment\n\nshop-web   3\n");
  CHECK(*VersionStore::open((dir.path() / "ok").string())->accepted("shop-web") == 3);
}

TEST_CASE("a version store that exists but cannot be read fails closed", "[attest][rollback]") {
  test::TempDir dir;
  // A folder in the file's place (as root, permissions do not stop a read; a folder does).
  fs::create_directory(dir.path() / "versions");
  auto r = VersionStore::open((dir.path() / "versions").string());
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == Error::Code::kIo);
  CHECK_THAT(r.error().message, Catch::Matchers::Contains("versions"));
}

TEST_CASE("without a state file, rollbacks are refused within the run", "[attest][rollback]") {
  auto store = VersionStore::open("");
  REQUIRE(store.has_value());
  REQUIRE(store->accept("shop-web", 5).has_value());
  CHECK_FALSE(store->check("shop-web", 4, "m.yaml").has_value());
  CHECK_FALSE(store->accept("shop-web", 4).has_value());
  CHECK(*store->accepted("shop-web") == 5);
}
