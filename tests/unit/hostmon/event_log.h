// Collects inventory events for tests and waits for the ones a test expects.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <vector>

#include "inventory.h"

namespace goldgate::test {

class EventLog {
 public:
  void attach(hostmon::Inventory& inv) {
    inv.setObserver([this](const hostmon::InventoryEvent& e) {
      std::lock_guard<std::mutex> l(mu_);
      events_.push_back(e);
      cv_.notify_all();
    });
  }

  /// Waits until an event of `kind` for VM `name` has arrived (at or after index `from`).
  bool waitFor(const std::string& kind, const std::string& name, int timeoutMs = 5000, size_t from = 0) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::milliseconds(timeoutMs), [&] { return countLocked(kind, name, from) > 0; });
  }

  size_t count(const std::string& kind, const std::string& name, size_t from = 0) const {
    std::lock_guard<std::mutex> l(mu_);
    return countLocked(kind, name, from);
  }

  size_t size() const {
    std::lock_guard<std::mutex> l(mu_);
    return events_.size();
  }

  std::vector<hostmon::InventoryEvent> since(size_t from) const {
    std::lock_guard<std::mutex> l(mu_);
    return {events_.begin() + static_cast<std::ptrdiff_t>(std::min(from, events_.size())), events_.end()};
  }

  /// "kind name" lines, for failure messages.
  std::string describe(size_t from = 0) const {
    std::string s;
    for (const auto& e : since(from))
      s += e.kind + " " + e.name + (e.detail.empty() ? "" : " [" + e.detail + "]") + "\n";
    return s;
  }

 private:
  size_t countLocked(const std::string& kind, const std::string& name, size_t from) const {
    size_t n = 0;
    for (size_t i = from; i < events_.size(); ++i) n += events_[i].kind == kind && events_[i].name == name;
    return n;
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<hostmon::InventoryEvent> events_;
};

}  // namespace goldgate::test
