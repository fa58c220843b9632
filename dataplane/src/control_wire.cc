#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "goldgate/dataplane/control_client.h"

namespace goldgate::dataplane {
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
  if (n > kMaxControlMessage)
    return makeError(Error::Code::kInvalidArgument, "frame of " + std::to_string(n) + " bytes exceeds the limit");
  std::string body(n, '\0');
  if (auto r = readAll(fd, body.data(), n); !r) return r.error();
  return body;
}

Result<proto::Response> callSwitch(const std::string& socketPath, const proto::Request& req, int timeoutMs) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return makeError(Error::Code::kIo, std::string("socket: ") + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  timeval tv{timeoutMs / 1000, (timeoutMs % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socketPath.size() >= sizeof addr.sun_path)
    return makeError(Error::Code::kInvalidArgument, socketPath + ": socket path too long");
  std::memcpy(addr.sun_path, socketPath.c_str(), socketPath.size() + 1);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return makeError(Error::Code::kIo, "cannot connect to goldgate-switch at " + socketPath + ": " + std::strerror(errno) +
                                           " (is the switch running? is --socket right?)");
  std::string bytes;
  req.SerializeToString(&bytes);
  if (!writeFrame(fd, bytes)) return makeError(Error::Code::kIo, std::string("send: ") + std::strerror(errno));
  auto frame = readFrame(fd);
  if (!frame) return makeError(Error::Code::kIo, "no response from " + socketPath + ": " + frame.error().message);
  proto::Response resp;
  if (!resp.ParseFromString(*frame)) return makeError(Error::Code::kParse, "malformed response from " + socketPath);
  return resp;
}

}  // namespace goldgate::dataplane
