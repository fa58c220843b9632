#include "goldgate/hostmon/client.h"

#include <algorithm>
#include <climits>

#include "goldgate/common/unix_socket.h"

namespace goldgate::hostmon {
namespace {

// A release talks to the switch and to libvirt before it answers: more than a plain query.
constexpr int kReleaseTimeoutMs = 15000;

// Sends `req` and hands back the answer when hostmon said ok; its refusal becomes the error.
Result<proto::HostmonResponse> ask(const std::string& socketPath, const proto::HostmonRequest& req, int timeoutMs) {
  auto resp = callHostmon(socketPath, req, timeoutMs);
  if (!resp) return resp.error();
  if (!resp->ok()) return makeError(Error::Code::kInvalidArgument, "goldgate-hostmon: " + resp->error());
  return resp;
}

}  // namespace

Result<proto::HostmonResponse> callHostmon(const std::string& socketPath, const proto::HostmonRequest& req,
                                           int timeoutMs) {
  std::string bytes;
  req.SerializeToString(&bytes);
  auto frame = ipc::callUnix(socketPath, bytes, timeoutMs, "goldgate-hostmon",
                             "is goldgate-hostmon running? is --hostmon-socket right?");
  if (!frame) return frame.error();
  proto::HostmonResponse resp;
  if (!resp.ParseFromString(*frame)) return makeError(Error::Code::kParse, "malformed response from " + socketPath);
  return resp;
}

Result<proto::VmRecord> getVm(const std::string& socketPath, const std::string& nameOrUuid) {
  proto::HostmonRequest req;
  req.mutable_get_vm()->set_name_or_uuid(nameOrUuid);
  auto resp = ask(socketPath, req, 5000);
  if (!resp) return resp.error();
  return std::move(*resp->mutable_vm());
}

Result<proto::LearnResponse> learn(const std::string& socketPath, const std::string& vm, uint64_t durationMs,
                                   const std::string& app) {
  proto::HostmonRequest req;
  req.mutable_learn()->set_vm(vm);
  req.mutable_learn()->set_duration_ms(durationMs);
  req.mutable_learn()->set_app(app);
  const uint64_t wait = std::min<uint64_t>(durationMs, INT_MAX - kLearnMarginMs) + kLearnMarginMs;
  auto resp = ask(socketPath, req, static_cast<int>(wait));
  if (!resp) return resp.error();
  return std::move(*resp->mutable_learn());
}

Result<proto::ReleaseResponse> release(const std::string& socketPath, const std::string& vm, const std::string& by) {
  proto::HostmonRequest req;
  req.mutable_release()->set_vm(vm);
  req.mutable_release()->set_by(by);
  auto resp = ask(socketPath, req, kReleaseTimeoutMs);
  if (!resp) return resp.error();
  return std::move(*resp->mutable_release());
}

Result<proto::ListManifestsResponse> listManifests(const std::string& socketPath) {
  proto::HostmonRequest req;
  req.mutable_list_manifests();
  auto resp = ask(socketPath, req, 5000);
  if (!resp) return resp.error();
  return std::move(*resp->mutable_list_manifests());
}

}  // namespace goldgate::hostmon
