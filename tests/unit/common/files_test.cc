#include "goldgate/common/files.h"

#include <sys/mount.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "expect_table.h"
#include "temp_dir.h"

using namespace goldgate;
namespace fs = std::filesystem;

TEST_CASE("state files: only a file that does not exist reads as absent", "[files]") {
  test::TempDir dir;
  auto none = readFileLimited((dir.path() / "none").string(), 100);
  REQUIRE_FALSE(none.has_value());
  CHECK(none.error().code == Error::Code::kNotFound);
  // A folder where the file should be, or a path through a file: errors, never "absent".
  fs::create_directory(dir.path() / "folder");
  auto folder = readFileLimited((dir.path() / "folder").string(), 100);
  REQUIRE_FALSE(folder.has_value());
  CHECK(folder.error().code == Error::Code::kIo);
  dir.write("plain", "x");
  auto through = readFileLimited((dir.path() / "plain" / "state").string(), 100);
  REQUIRE_FALSE(through.has_value());
  CHECK(through.error().code == Error::Code::kIo);
  dir.write("big", std::string(101, 'b'));
  auto big = readFileLimited((dir.path() / "big").string(), 100);
  REQUIRE_FALSE(big.has_value());
  CHECK(big.error().code == Error::Code::kResource);
}

TEST_CASE("state files are replaced whole, and a failed write leaves the old one", "[files]") {
  test::TempDir dir;
  const std::string path = (dir.path() / "state").string();
  REQUIRE(replaceFileDurably(path, "one\n", 0600).has_value());
  REQUIRE(replaceFileDurably(path, "two\n", 0600).has_value());
  CHECK(test::readText(path) == "two\n");
  CHECK((fs::status(path).permissions() & fs::perms::all) == (fs::perms::owner_read | fs::perms::owner_write));
  CHECK_FALSE(fs::exists(path + ".tmp"));
  // The folder is gone: an error naming the file, nothing left behind.
  auto gone = replaceFileDurably((dir.path() / "gone" / "state").string(), "x", 0600);
  REQUIRE_FALSE(gone.has_value());
  CHECK(gone.error().code == Error::Code::kIo);
  CHECK_THAT(gone.error().message, Catch::Matchers::Contains("gone/state"));
}

TEST_CASE("a full disk: the write fails, the old state stays whole", "[files]") {
  test::TempDir dir;
  const fs::path mnt = dir.path() / "tiny";
  fs::create_directory(mnt);
  // A 64 KiB tmpfs stands in for a full disk; mounting needs root (CAP_SYS_ADMIN).
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=64k") != 0) {
    WARN("skipped: cannot mount a small tmpfs here (not root?): the full-disk case is not exercised");
    return;
  }
  const std::string path = (mnt / "state").string();
  REQUIRE(replaceFileDurably(path, "kept\n", 0600).has_value());
  auto full = replaceFileDurably(path, std::string(256 * 1024, 'f'), 0600);
  ::umount2(mnt.c_str(), MNT_DETACH);
  REQUIRE_FALSE(full.has_value());
  CHECK(full.error().code == Error::Code::kIo);
  CHECK_THAT(full.error().message, Catch::Matchers::Contains("No space left"));
}
