#include "goldgate/common/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

namespace goldgate {

Result<std::string> readFileLimited(const std::string& path, size_t maxBytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    return makeError(err == ENOENT ? Error::Code::kNotFound : Error::Code::kIo, path + ": " + std::strerror(err));
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      ::close(fd);
      return makeError(Error::Code::kIo, path + ": " + std::strerror(err));
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > maxBytes) {
      ::close(fd);
      return makeError(Error::Code::kResource, path + ": larger than " + std::to_string(maxBytes) + " bytes");
    }
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

Result<void> writeFileSynced(const std::string& path, std::string_view data, mode_t mode, int extraFlags) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC | extraFlags, mode);
  if (fd < 0) {
    if (errno == EEXIST) return makeError(Error::Code::kIo, path + ": exists; refusing to overwrite it");
    return makeError(Error::Code::kIo, path + ": " + std::strerror(errno));
  }
  size_t off = 0;
  int err = 0;
  while (off < data.size() && err == 0) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno != EINTR) err = errno;
    if (n > 0) off += static_cast<size_t>(n);
  }
  if (err == 0 && ::fsync(fd) != 0) err = errno;
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    ::unlink(path.c_str());
    return makeError(Error::Code::kIo, path + ": " + std::strerror(err));
  }
  return {};
}

Result<void> replaceFileDurably(const std::string& path, std::string_view data, mode_t mode) {
  const std::string tmp = path + ".tmp";
  if (auto w = writeFileSynced(tmp, data, mode, O_TRUNC); !w)
    return makeError(Error::Code::kIo, path + ": cannot write: " + w.error().message);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return makeError(Error::Code::kIo, path + ": cannot replace: " + std::strerror(err));
  }
  // The rename is durable only once the folder is.
  const std::string dir = std::filesystem::path(path).parent_path().string();
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0)
    return makeError(Error::Code::kIo,
                     path + ": cannot open its folder to make the write durable: " + std::strerror(errno));
  const int rc = ::fsync(dfd);
  const int err = errno;
  ::close(dfd);
  if (rc != 0) return makeError(Error::Code::kIo, path + ": cannot sync its folder: " + std::strerror(err));
  return {};
}

Result<void> checkPrivateFile(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return makeError(Error::Code::kIo, path + ": " + std::strerror(errno));
  if (st.st_mode & 077) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return makeError(Error::Code::kPermission, path + ": permissions " + mode +
                                                   " are too open: a key file must not be readable by group or others "
                                                   "(chmod 600 " +
                                                   path + ")");
  }
  return {};
}

}  // namespace goldgate
