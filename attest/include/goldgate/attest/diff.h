// What changed between two manifests, item by item: for reviewing a new version or a learned draft
// before signing it.
#pragma once

#include <string>
#include <vector>

#include "manifest.pb.h"

namespace goldgate::attest {

/// One difference. Items are named by their identity in their section: an executable by its path,
/// a module by its name, a named connection by its name, a listener or unnamed connection by all
/// of it, a data class by its class, a response by its kind, a scalar by its key.
struct DiffItem {
  enum class Op { kAdded, kRemoved, kChanged };
  Op op = Op::kChanged;
  std::string section;  // version, expires, applies_to.vms, executables, kernel.modules, outbound, responses, ...
  std::string subject;  // the item's identity in its section ("" for a scalar key)
  std::string before;   // its old text (changed, removed): only the fields that differ when changed
  std::string after;    // its new text (changed, added)
};

/// The differences from `old` to `neu`, in the order of the manifest's sections and, within one,
/// by subject. Empty when they are equal. Any thread.
std::vector<DiffItem> diffManifests(const proto::Manifest& old, const proto::Manifest& neu);

/// One line per item: "+ section subject: after", "- section subject: before",
/// "~ section subject: before -> after". Any thread.
std::string formatDiff(const std::vector<DiffItem>& items);

}  // namespace goldgate::attest
