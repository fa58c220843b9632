// Lookups in the event catalog (kinds.h).
#include "goldgate/alerts/kinds.h"

#include "alert.pb.h"

namespace goldgate::alerts {

std::string wireName(Kind k, std::string_view suffix) {
  const KindInfo& row = info(k);
  std::string name(row.name);
  if (row.family()) name += suffix;
  return name;
}

const KindInfo* findKind(std::string_view name) {
  const KindInfo* family = nullptr;
  for (const auto& row : kKinds) {
    if (!row.family() && row.name == name) return &row;
    // The longest matching prefix wins, should one family ever hold another.
    if (row.family() && name.size() > row.name.size() && name.substr(0, row.name.size()) == row.name &&
        (!family || row.name.size() > family->name.size()))
      family = &row;
  }
  return family;
}

std::string docName(const KindInfo& k) {
  std::string name(k.name);
  if (k.family()) name += "<" + std::string(k.suffix) + ">";
  return name;
}

void setKind(proto::AlertEvent& ev, Kind k, std::string_view suffix) {
  ev.set_kind(wireName(k, suffix));
  // A family's name with a row of its own (attest.kernel_text) takes that row's severity.
  const KindInfo* row = info(k).family() ? findKind(ev.kind()) : nullptr;
  ev.set_severity((row ? *row : info(k)).severity);
}

}  // namespace goldgate::alerts
