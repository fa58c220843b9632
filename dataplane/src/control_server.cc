// The control socket and the alert followers (control_server.h).
#include "control_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "goldgate/alerts/render.h"
#include "goldgate/dataplane/control_client.h"

namespace goldgate::dataplane {

ControlServer::ControlServer(std::string path, std::string group, std::string configFile, Handler handler)
    : path_(std::move(path)),
      group_(std::move(group)),
      config_file_(std::move(configFile)),
      handler_(std::move(handler)) {}

ControlServer::~ControlServer() { close(); }

Result<void> ControlServer::open() {
  auto fd = ipc::listenUnix(path_, group_, "goldgate-switch");
  if (!fd) {
    // A missing group is a configuration error: name the file that asks for it.
    if (fd.error().code == Error::Code::kInvalidArgument && fd.error().message.rfind("group ", 0) == 0)
      return makeError(Error::Code::kInvalidArgument, config_file_ + ": control." + fd.error().message);
    return fd.error();
  }
  listen_fd_ = *fd;
  return {};
}

void ControlServer::close() {
  if (listen_fd_ < 0) return;
  ::close(listen_fd_);
  ::unlink(path_.c_str());
  listen_fd_ = -1;
}

void ControlServer::serveOnce(int timeoutMs) {
  pollfd pfd{listen_fd_, POLLIN, 0};
  int rc = ::poll(&pfd, 1, timeoutMs);
  if (rc > 0 && (pfd.revents & POLLIN)) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0 && !serveClient(fd)) ::close(fd);
  }
  // Followers that hung up are let go.
  for (auto it = followers_.begin(); it != followers_.end();) {
    pollfd f{it->fd, POLLIN, 0};
    char buf[64];
    if (::poll(&f, 1, 0) > 0 && (f.revents & (POLLHUP | POLLERR | POLLIN)) &&
        ::recv(it->fd, buf, sizeof buf, MSG_DONTWAIT) <= 0) {
      ::close(it->fd);
      it = followers_.erase(it);
    } else {
      ++it;
    }
  }
}

void ControlServer::publish(const proto::AlertEvent& ev) {
  for (auto it = followers_.begin(); it != followers_.end();) {
    proto::Response r;
    r.set_ok(true);
    r.set_message(alerts::render(ev, it->format));
    std::string bytes;
    r.SerializeToString(&bytes);
    // A follower that cannot keep up is disconnected (and told so by the closed stream) rather
    // than allowed to stall the control thread; the alert file still has every event.
    if (!writeFrame(it->fd, bytes)) {
      ::close(it->fd);
      it = followers_.erase(it);
      ++followers_dropped_;
    } else {
      ++it;
    }
  }
}

void ControlServer::closeFollowers() {
  for (const auto& f : followers_) ::close(f.fd);
  followers_.clear();
}

bool ControlServer::serveClient(int fd) {
  // Only root or members of the configured group may drive the switch.
  bool allowed = ipc::peerAllowed(fd, group_);
  proto::Response resp;
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  std::string out;
  // The request is read even from a peer that will be refused, so that its send completes and it
  // reads the refusal rather than a broken pipe.
  auto frame = readFrame(fd);
  if (!frame) return false;  // client went away or sent garbage framing: nothing to answer
  if (!allowed) {
    resp.set_ok(false);
    resp.set_error("permission denied: the control socket accepts root" +
                   (group_.empty() ? std::string() : " and group " + group_));
  } else {
    proto::Request req;
    if (!req.ParseFromString(*frame)) {
      resp.set_ok(false);
      resp.set_error("malformed request");
    } else if (req.cmd_case() == proto::Request::kFollow) {
      auto fmt = alerts::parseFormat(req.follow().format().empty() ? "json" : req.follow().format());
      if (!fmt) {
        resp.set_ok(false);
        resp.set_error(fmt.error().message);
      } else if (followers_.size() >= 16) {
        resp.set_ok(false);
        resp.set_error("too many alert followers (16)");
      } else {
        resp.set_ok(true);
        resp.set_message("following alerts in " + std::string(alerts::formatName(*fmt)) + " format");
        resp.SerializeToString(&out);
        if (!writeFrame(fd, out)) return false;
        // Sends must never block the control thread: a full socket means a slow follower.
        int flags = ::fcntl(fd, F_GETFL);
        ::fcntl(fd, F_SETFL, flags | O_NONBLOCK);
        followers_.push_back(Follower{fd, *fmt});
        return true;
      }
    } else {
      resp = handler_(req);
    }
  }
  resp.SerializeToString(&out);
  writeFrame(fd, out);
  return false;
}

}  // namespace goldgate::dataplane
