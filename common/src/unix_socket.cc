#include "goldgate/common/unix_socket.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace goldgate::ipc {
namespace {

bool writeAll(int fd, const char* p, size_t n) {
  while (n) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

Result<void> readAll(int fd, char* p, size_t n) {
  while (n) {
    ssize_t r = ::recv(fd, p, n, 0);
    if (r == 0) return makeError(Error::Code::kIo, "connection closed");
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return makeError(Error::Code::kIo, "timed out");
      return makeError(Error::Code::kIo, std::strerror(errno));
    }
    p += r;
    n -= static_cast<size_t>(r);
  }
  return {};
}

Result<sockaddr_un> unixAddress(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path)
    return makeError(Error::Code::kInvalidArgument, path + ": socket path too long");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

}  // namespace

bool writeFrame(int fd, const std::string& bytes) {
  uint32_t n = static_cast<uint32_t>(bytes.size());
  unsigned char hdr[4] = {static_cast<unsigned char>(n >> 24), static_cast<unsigned char>(n >> 16),
                          static_cast<unsigned char>(n >> 8), static_cast<unsigned char>(n)};
  return writeAll(fd, reinterpret_cast<const char*>(hdr), 4) && writeAll(fd, bytes.data(), bytes.size());
}

Result<std::string> readFrame(int fd) {
  unsigned char hdr[4];
  if (auto r = readAll(fd, reinterpret_cast<char*>(hdr), 4); !r) return r.error();
  uint32_t n = (uint32_t{hdr[0]} << 24) | (uint32_t{hdr[1]} << 16) | (uint32_t{hdr[2]} << 8) | hdr[3];
  if (n > kMaxFrame)
    return makeError(Error::Code::kInvalidArgument, "frame of " + std::to_string(n) + " bytes exceeds the limit");
  std::string body(n, '\0');
  if (auto r = readAll(fd, body.data(), n); !r) return r.error();
  return body;
}

Result<int> connectUnix(const std::string& path, int timeoutMs, const std::string& peer, const std::string& hint) {
  auto addr = unixAddress(path);
  if (!addr) return addr.error();
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return makeError(Error::Code::kIo, std::string("socket: ") + std::strerror(errno));
  timeval tv{timeoutMs / 1000, (timeoutMs % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) != 0) {
    int err = errno;
    ::close(fd);
    return makeError(Error::Code::kIo,
                     "cannot connect to " + peer + " at " + path + ": " + std::strerror(err) + " (" + hint + ")");
  }
  return fd;
}

Result<std::string> callUnix(const std::string& path, const std::string& request, int timeoutMs,
                             const std::string& peer, const std::string& hint) {
  auto fd = connectUnix(path, timeoutMs, peer, hint);
  if (!fd) return fd.error();
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{*fd};
  if (!writeFrame(*fd, request)) return makeError(Error::Code::kIo, std::string("send: ") + std::strerror(errno));
  auto frame = readFrame(*fd);
  if (!frame) return makeError(Error::Code::kIo, "no response from " + path + ": " + frame.error().message);
  return frame;
}

Result<int> listenUnix(const std::string& path, const std::string& group, const std::string& owner) {
  auto addr = unixAddress(path);
  if (!addr) return addr.error();
  gid_t gid = 0;
  if (!group.empty()) {
    ::group* g = ::getgrnam(group.c_str());
    if (!g) return makeError(Error::Code::kInvalidArgument, "group '" + group + "' does not exist");
    gid = g->gr_gid;
  }
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  // A socket file left by a previous run is replaced only if nobody answers on it.
  int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe >= 0) {
    bool live = ::connect(probe, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) == 0;
    ::close(probe);
    if (live)
      return makeError(Error::Code::kInvalidArgument, path + ": another " + owner + " is already listening there");
  }
  ::unlink(path.c_str());
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return makeError(Error::Code::kIo, std::string("socket: ") + std::strerror(errno));
  // The socket never exists with a wider mode than intended, not even between bind and chmod.
  mode_t old = ::umask(0077);
  int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr);
  ::umask(old);
  if (rc != 0) {
    int err = errno;
    ::close(fd);
    return makeError(Error::Code::kIo, path + ": bind: " + std::strerror(err));
  }
  if (!group.empty()) {
    if (::chown(path.c_str(), 0, gid) != 0 || ::chmod(path.c_str(), 0660) != 0) {
      ::close(fd);
      return makeError(Error::Code::kIo, path + ": cannot give the socket to group " + group);
    }
  } else {
    ::chmod(path.c_str(), 0600);
  }
  if (::listen(fd, 16) != 0) {
    int err = errno;
    ::close(fd);
    return makeError(Error::Code::kIo, path + ": listen: " + std::strerror(err));
  }
  return fd;
}

bool peerAllowed(int fd, const std::string& group) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  if (cred.uid == 0) return true;
  if (group.empty()) return false;
  ::group* g = ::getgrnam(group.c_str());
  passwd* pw = ::getpwuid(cred.uid);
  if (!g || !pw) return false;
  int n = 64;
  gid_t groups[64];
  if (::getgrouplist(pw->pw_name, pw->pw_gid, groups, &n) < 0) return false;
  for (int i = 0; i < n; ++i)
    if (groups[i] == g->gr_gid) return true;
  return false;
}

}  // namespace goldgate::ipc
