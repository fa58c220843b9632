// Client side of goldgate-hostmon's control API, for goldgatectl. Links no libvirt.
#pragma once

#include <cstdint>
#include <string>

#include "goldgate/common/result.h"
#include "hostmon.pb.h"

namespace goldgate::hostmon {

/// Default control socket, beside the switch's /run/goldgate/switch.sock.
inline constexpr const char* kDefaultHostmonSocket = "/run/goldgate/hostmon.sock";

/// The learning times hostmon accepts.
inline constexpr uint64_t kLearnMinMs = 1000;
inline constexpr uint64_t kLearnMaxMs = 24ull * 3600 * 1000;

/// How long past the learning time a learn call waits for hostmon's answer (the draft is built
/// after the time is up, and the last poll may still be running then).
inline constexpr uint64_t kLearnMarginMs = 30000;

/// Sends `req` to goldgate-hostmon at `socketPath` and waits up to `timeoutMs` for the answer.
/// Errors: cannot connect (path, errno text and a hint that hostmon may not be running),
/// timeout, malformed response. Any thread.
Result<proto::HostmonResponse> callHostmon(const std::string& socketPath, const proto::HostmonRequest& req,
                                           int timeoutMs = 5000);

// The calls below send one request each and return the body of the answer. Errors: those of
// callHostmon, or hostmon's own refusal (ok=false: an unknown VM, a learn already running, a
// failed release) with hostmon's message. Any thread.

/// GetVm: the VM's record with its guest state and its attestation (manifest, expected and
/// observed items, red flags, response actions).
Result<proto::VmRecord> getVm(const std::string& socketPath, const std::string& nameOrUuid);

/// Learn: hostmon records what `vm` does for `durationMs` and answers with a draft manifest for
/// application `app` (empty: the VM's gg:app, else its name). Blocks for `durationMs` plus
/// kLearnMarginMs at most.
Result<proto::LearnResponse> learn(const std::string& socketPath, const std::string& vm, uint64_t durationMs,
                                   const std::string& app);

/// Release: undoes the responses in force on `vm` (quarantine, hardening, suspension), recorded as
/// done `by` ("operator:alice"). The answer lists each undone action, with its state.
Result<proto::ReleaseResponse> release(const std::string& socketPath, const std::string& vm, const std::string& by);

/// ListManifests: every manifest file hostmon holds, accepted or refused (with the reason), and
/// the VMs each applies to.
Result<proto::ListManifestsResponse> listManifests(const std::string& socketPath);

}  // namespace goldgate::hostmon
