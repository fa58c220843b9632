// Reading and writing whole files with POSIX calls: bounded reads, durable exclusive writes.
#include "file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "goldgate/attest/manifest.h"

namespace goldgate::attest {

Result<std::string> readFileLimited(const std::string& path, size_t maxBytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return makeError(Error::Code::kIo, path + ": " + std::strerror(errno));
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

Result<proto::Manifest> loadManifestFile(const std::string& path) {
  auto text = readFileLimited(path, kMaxManifestBytes);
  if (!text) return text.error();
  return parseManifest(*text, path);
}

Result<void> writeFileSynced(const std::string& path, const std::string& data, mode_t mode, int extraFlags) {
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

}  // namespace goldgate::attest
