#include "control.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "goldgate/common/unix_socket.h"

namespace goldgate::hostmon {

proto::VmRecord toProto(const VmRecord& r) {
  proto::VmRecord p;
  p.set_name(r.info.name);
  p.set_uuid(r.info.uuid);
  p.set_state(vmStateName(r.state));
  p.set_reason(r.reason);
  p.set_last_change_unix_ns(r.last_change_ns);
  p.set_generation(r.generation);
  for (const auto& n : r.info.nics) {
    auto* q = p.add_nics();
    q->set_type(n.type);
    q->set_mac(n.mac);
    q->set_source_type(n.source_type);
    q->set_source(n.source);
    q->set_source_mode(n.source_mode);
    q->set_target_dev(n.target_dev);
    q->set_model(n.model);
    q->set_alias(n.alias);
  }
  for (const auto& d : r.info.devices) {
    auto* q = p.add_devices();
    q->set_kind(d.kind);
    q->set_type(d.type);
    q->set_target(d.target);
    q->set_source(d.source);
    q->set_alias(d.alias);
  }
  p.set_app(r.info.labels.app);
  p.set_segment(r.info.labels.segment);
  p.set_manifest(r.info.labels.manifest);
  for (const auto& [k, v] : r.info.labels.extra) (*p.mutable_labels())[k] = v;
  p.set_has_labels(r.info.has_labels);
  p.set_agent_channel(r.info.has_agent_channel);
  p.set_agent_connected(r.agent_connected);
  p.set_parse_error(r.parse_error);
  return p;
}

proto::HostmonResponse handleRequest(const proto::HostmonRequest& req, const Inventory& inv,
                                     const MonitorStatus& status, const GuestStateStore* guests) {
  proto::HostmonResponse resp;
  resp.set_ok(true);
  auto* st = resp.mutable_status();
  st->set_uri(status.uri);
  st->set_connected(status.connected);
  st->set_connects(status.connects);
  st->set_disconnects(status.disconnects);
  st->set_events(status.events);
  st->set_last_error(status.last_error);
  switch (req.cmd_case()) {
    case proto::HostmonRequest::kListVms: {
      auto* l = resp.mutable_list_vms();
      for (const auto& r : inv.snapshot()) *l->add_vms() = toProto(r);
      break;
    }
    case proto::HostmonRequest::kGetVm: {
      auto r = inv.find(req.get_vm().name_or_uuid());
      if (!r) {
        resp.set_ok(false);
        resp.set_error("no VM named '" + req.get_vm().name_or_uuid() + "' (nor with that UUID)" +
                       (status.connected ? "" : "; note: not connected to libvirt at " + status.uri));
      } else {
        *resp.mutable_vm() = toProto(*r);
        if (guests)
          if (auto g = guests->find(r->info.uuid)) *resp.mutable_vm()->mutable_guest() = toProto(*g);
      }
      break;
    }
    default: resp.set_ok(false); resp.set_error("unknown request (client newer than goldgate-hostmon?)");
  }
  return resp;
}

ControlServer::ControlServer(std::string path, std::string group, const Inventory& inv,
                             std::function<MonitorStatus()> status)
    : path_(std::move(path)), group_(std::move(group)), inv_(inv), status_(std::move(status)) {}

ControlServer::~ControlServer() {
  if (listen_fd_ >= 0) {
    ::close(listen_fd_);
    ::unlink(path_.c_str());
  }
}

Result<void> ControlServer::open() {
  auto fd = ipc::listenUnix(path_, group_, "goldgate-hostmon");
  if (!fd) return fd.error();
  listen_fd_ = *fd;
  return {};
}

void ControlServer::serveOnce(int timeoutMs) {
  pollfd pfd{listen_fd_, POLLIN, 0};
  if (::poll(&pfd, 1, timeoutMs) <= 0 || !(pfd.revents & POLLIN)) return;
  int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
  if (fd < 0) return;
  serveClient(fd);
}

Responder::~Responder() {
  proto::HostmonResponse resp;
  resp.set_ok(false);
  resp.set_error("goldgate-hostmon gave no answer to this request");
  reply(std::move(resp));
}

void Responder::reply(proto::HostmonResponse resp) {
  std::lock_guard<std::mutex> l(mu_);
  if (fd_ < 0) return;
  if (finish_) finish_(resp);
  std::string out;
  resp.SerializeToString(&out);
  ipc::writeFrame(fd_, out);
  ::close(fd_);
  fd_ = -1;
}

void ControlServer::serveClient(int fd) {
  bool allowed = ipc::peerAllowed(fd, group_);
  timeval tv{1, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  // Read even a refused peer's request, so that it gets the refusal rather than a broken pipe.
  auto frame = ipc::readFrame(fd);
  if (!frame) {
    ::close(fd);
    return;
  }
  proto::HostmonResponse resp;
  proto::HostmonRequest req;
  if (!allowed) {
    resp.set_ok(false);
    resp.set_error("permission denied: the hostmon socket accepts root" +
                   (group_.empty() ? std::string() : " and group " + group_));
  } else if (!req.ParseFromString(*frame)) {
    resp.set_ok(false);
    resp.set_error("malformed request");
  } else if (handler_ && (req.has_learn() || req.has_release() || req.has_list_manifests() || req.has_approve())) {
    auto finish = [this](proto::HostmonResponse& r) {
      auto st = status_();
      auto* s = r.mutable_status();
      s->set_uri(st.uri);
      s->set_connected(st.connected);
      s->set_connects(st.connects);
      s->set_disconnects(st.disconnects);
      s->set_events(st.events);
      s->set_last_error(st.last_error);
      for (const auto& d : decorators_) d(r);
    };
    auto responder = std::make_shared<Responder>(fd, finish);
    if (handler_(req, responder)) return;
    resp.set_ok(false);
    resp.set_error("request not served by this goldgate-hostmon");
    responder->reply(std::move(resp));
    return;
  } else {
    resp = handleRequest(req, inv_, status_(), guests_);
    for (const auto& d : decorators_) d(resp);
  }
  std::string out;
  resp.SerializeToString(&out);
  ipc::writeFrame(fd, out);
  ::close(fd);
}

}  // namespace goldgate::hostmon
