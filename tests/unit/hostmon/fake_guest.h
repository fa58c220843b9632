// A fake VM for the collector tests: it stands in for the QEMU guest agent (answering the commands
// the agent collector sends) and for guest-physical memory (peeks), which libvirt's
// test:///default driver lacks (no virDomainQemuAgentCommand, no virDomainMemoryPeek).
#pragma once

#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "agent_samples.h"
#include "collector.h"

namespace goldgate::test {

struct FakeGuest {
  enum class Agent { kGood, kSilent, kMalformed, kErrorReply };
  Agent agent = Agent::kGood;
  std::string osinfo = kOsInfoReply;
  std::string probe = probeOutput();
  int running_polls = 1;        // guest-exec-status answers "still running" this often first
  std::vector<uint8_t> memory;  // guest-physical memory from address 0
  std::mutex mu;
  std::vector<std::string> commands;  // "execute" of every request, in order
  int peeks = 0;

  /// 8 MiB of memory with a banner at `bannerAt` (crossing a 64 KiB boundary if asked to).
  void setMemory(uint64_t bannerAt, const std::string& release) {
    memory.assign(8u << 20, 0xcc);
    std::string b = "Linux version " + release + " (debian-kernel@lists.debian.org) #1 SMP\n";
    std::memcpy(memory.data() + bannerAt, b.data(), b.size());
  }

  hostmon::GuestAccess access() {
    hostmon::GuestAccess a;
    a.agent = [this](const std::string& request, int) -> Result<std::string> {
      std::lock_guard<std::mutex> l(mu);
      auto j = nlohmann::json::parse(request);
      std::string cmd = j["execute"];
      commands.push_back(cmd);
      switch (agent) {
        case Agent::kSilent:
          return makeError(Error::Code::kIo, "Guest agent is not responding: QEMU guest agent is not connected");
        case Agent::kMalformed: return std::string("{\"return\": {\"kernel-release\": ");
        case Agent::kErrorReply:
          return std::string(R"j({"error": {"class": "GenericError", "desc": "command disabled"}})j");
        case Agent::kGood: break;
      }
      if (cmd == "guest-get-osinfo") return osinfo;
      if (cmd == "guest-network-get-interfaces") return kInterfacesReply;
      if (cmd == "guest-exec") return std::string(R"j({"return": {"pid": 77}})j");
      if (cmd == "guest-exec-status") {
        if (running_polls-- > 0) return execStatusReply(false);
        return execStatusReply(true, probe);
      }
      return makeError(Error::Code::kInvalidArgument, "unknown command " + cmd);
    };
    a.peek = [this](uint64_t start, size_t size, uint8_t* buf) -> Result<void> {
      std::lock_guard<std::mutex> l(mu);
      ++peeks;
      if (size > (64u << 10)) return makeError(Error::Code::kInvalidArgument, "peek of more than 64 KiB");
      if (start + size > memory.size()) return makeError(Error::Code::kIo, "address outside guest memory");
      std::memcpy(buf, memory.data() + start, size);
      return {};
    };
    return a;
  }
};

}  // namespace goldgate::test
