// The response actions a manifest may ask for, one row each: what undoes it and what the VM's
// attestation view shows while it is in force. Adding an action is a row here and its code in the
// host monitor's executor (hostmon/src/responses.cc: run, and undo if it has one).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace goldgate::attest {

/// What the VM's attestation view shows while an action is in force.
enum class ShownAs : uint8_t { kNothing, kQuarantined, kHardened, kSuspended };

struct ResponseActionInfo {
  std::string_view name;
  std::string_view undo;  // the record's name for undoing it; "" = it cannot be undone (nor is it "in force")
  ShownAs shown;
  std::string_view what;  // one line, for errors and docs
};

inline constexpr std::array<ResponseActionInfo, 6> kResponseActions = {{
    {"alert", "", ShownAs::kNothing, "an alert only"},
    {"quarantine", "release", ShownAs::kQuarantined, "the switch moves the VM into its quarantine segment"},
    {"harden", "unharden", ShownAs::kHardened, "the VM's ports move to the segment <app>.hardened"},
    {"suspend", "resume", ShownAs::kSuspended, "libvirt pauses the VM"},
    {"snapshot", "", ShownAs::kNothing, "libvirt takes a snapshot of the VM"},
    {"poweroff", "", ShownAs::kNothing, "libvirt powers the VM off"},
}};

/// The row of `name`, or null when no such action exists.
inline const ResponseActionInfo* findResponseAction(std::string_view name) {
  for (const auto& a : kResponseActions)
    if (a.name == name) return &a;
  return nullptr;
}

/// "alert, quarantine, …": the names, for error messages.
inline std::string responseActionNames() {
  std::string out;
  for (const auto& a : kResponseActions) out += (out.empty() ? "" : ", ") + std::string(a.name);
  return out;
}

}  // namespace goldgate::attest
