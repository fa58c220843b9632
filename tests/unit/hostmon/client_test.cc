// goldgatectl's typed calls to goldgate-hostmon (hostmon/src/client.cc) against a real control
// socket: each sends its request and returns the body of the answer; hostmon's refusal is the error.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "control.h"
#include "goldgate/hostmon/client.h"
#include "temp_dir.h"

using namespace goldgate;
using namespace goldgate::hostmon;
using Catch::Matchers::Contains;

namespace {

// A control server on its own thread whose attestation requests are answered by `handler`.
class Served {
 public:
  explicit Served(ControlServer::Handler handler)
      : path_((dir_.path() / "hostmon.sock").string()), server_(path_, "", inv_, [] { return MonitorStatus{}; }) {
    ObservedVm v;
    v.info.name = "web1";
    v.info.uuid = "8f3c2a10-1111-4222-8333-944455556666";
    v.state = VmState::kRunning;
    inv_.upsert(v);
    server_.setHandler(std::move(handler));
    REQUIRE(server_.open().has_value());
    thread_ = std::thread([this] {
      while (!stop_.load()) server_.serveOnce(20);
    });
  }
  ~Served() {
    stop_ = true;
    thread_.join();
  }
  const std::string& path() const { return path_; }

 private:
  test::TempDir dir_;
  std::string path_;
  Inventory inv_;
  ControlServer server_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// The control socket admits root only (or a configured group): as another user every call is
// refused before it reaches the handler, and the contract tests below say so and do not run.
bool admitted() {
  if (::geteuid() == 0) return true;
  WARN("not run: the control socket admits root only");
  return false;
}

}  // namespace

TEST_CASE("hostmon client: getVm returns the record; an unknown VM is hostmon's error", "[hostmon][client][report]") {
  if (!admitted()) return;
  Served s([](const proto::HostmonRequest&, std::shared_ptr<Responder>) { return false; });
  auto vm = getVm(s.path(), "web1");
  REQUIRE(vm.has_value());
  CHECK(vm->name() == "web1");
  CHECK(vm->uuid() == "8f3c2a10-1111-4222-8333-944455556666");
  auto none = getVm(s.path(), "nope");
  REQUIRE_FALSE(none.has_value());
  CHECK_THAT(none.error().message, Contains("goldgate-hostmon: no VM named 'nope'"));
}

TEST_CASE("hostmon client: release sends the VM and who releases it, and returns what was undone",
          "[hostmon][client][report]") {
  if (!admitted()) return;
  std::mutex mu;
  proto::ReleaseRequest seen;
  Served s([&](const proto::HostmonRequest& req, std::shared_ptr<Responder> r) {
    if (!req.has_release()) return false;
    {
      std::lock_guard<std::mutex> l(mu);
      seen = req.release();
    }
    proto::HostmonResponse resp;
    if (req.release().vm() != "web1") {
      resp.set_error("no VM named '" + req.release().vm() + "' (nor with that UUID)");
    } else {
      resp.set_ok(true);
      auto* a = resp.mutable_release()->add_actions();
      a->set_action("release");
      a->set_state("done");
      a->set_trigger(req.release().by());
    }
    r->reply(std::move(resp));
    return true;
  });
  auto done = release(s.path(), "web1", "operator:alice");
  REQUIRE(done.has_value());
  REQUIRE(done->actions_size() == 1);
  CHECK(done->actions(0).action() == "release");
  CHECK(done->actions(0).trigger() == "operator:alice");
  {
    std::lock_guard<std::mutex> l(mu);
    CHECK(seen.vm() == "web1");
    CHECK(seen.by() == "operator:alice");
  }
  auto refused = release(s.path(), "db9", "operator:alice");
  REQUIRE_FALSE(refused.has_value());
  CHECK_THAT(refused.error().message, Contains("goldgate-hostmon: no VM named 'db9'"));
}

TEST_CASE("hostmon client: listManifests returns every status", "[hostmon][client][report]") {
  if (!admitted()) return;
  Served s([](const proto::HostmonRequest& req, std::shared_ptr<Responder> r) {
    if (!req.has_list_manifests()) return false;
    proto::HostmonResponse resp;
    resp.set_ok(true);
    auto* m = resp.mutable_list_manifests()->add_manifests();
    m->set_file("/etc/goldgate/manifests/web.yaml");
    m->set_accepted(true);
    m = resp.mutable_list_manifests()->add_manifests();
    m->set_file("/etc/goldgate/manifests/db.yaml");
    m->set_reason("unsigned");
    r->reply(std::move(resp));
    return true;
  });
  auto l = listManifests(s.path());
  REQUIRE(l.has_value());
  REQUIRE(l->manifests_size() == 2);
  CHECK(l->manifests(0).accepted());
  CHECK(l->manifests(1).reason() == "unsigned");
}

TEST_CASE("hostmon client: learn waits past the learning time for the draft", "[hostmon][client][report]") {
  if (!admitted()) return;
  std::mutex mu;
  std::shared_ptr<Responder> pending;
  proto::LearnRequest seen;
  Served s([&](const proto::HostmonRequest& req, std::shared_ptr<Responder> r) {
    if (!req.has_learn()) return false;
    std::lock_guard<std::mutex> l(mu);
    seen = req.learn();
    pending = std::move(r);  // answered when the learning time is up, as hostmon does
    return true;
  });
  std::thread answer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(1300));
    std::lock_guard<std::mutex> l(mu);
    if (!pending) return;
    proto::HostmonResponse resp;
    resp.set_ok(true);
    resp.mutable_learn()->set_yaml("app: web\n");
    resp.mutable_learn()->set_observations(4);
    pending->reply(std::move(resp));
  });
  const auto t0 = std::chrono::steady_clock::now();
  auto draft = learn(s.path(), "web1", 1000, "web");
  const auto waited = std::chrono::steady_clock::now() - t0;
  answer.join();
  REQUIRE(draft.has_value());
  CHECK(draft->yaml() == "app: web\n");
  CHECK(draft->observations() == 4);
  CHECK(waited >= std::chrono::milliseconds(1300));
  CHECK(seen.vm() == "web1");
  CHECK(seen.duration_ms() == 1000);
  CHECK(seen.app() == "web");
}

TEST_CASE("hostmon client: every call names the socket when hostmon is not running", "[hostmon][client][report]") {
  test::TempDir dir;
  const std::string none = (dir.path() / "none.sock").string();
  for (const auto& err : {getVm(none, "web1").error(), learn(none, "web1", 1000, "").error(),
                          release(none, "web1", "x").error(), listManifests(none).error()}) {
    CHECK_THAT(err.message, Contains("cannot connect to goldgate-hostmon at " + none));
  }
}
