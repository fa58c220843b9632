#include "goldgate/fleet/etcd.h"

#include <curl/curl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "goldgate/common/base64.h"
#include "goldgate/common/files.h"
#include "goldgate/common/json_text.h"

namespace goldgate::fleet {
namespace {

using nlohmann::json;

constexpr size_t kMaxAnswer = 64u << 20;  // bytes of one answer (a range of every bundle kept)
constexpr size_t kMaxValue = 48u << 20;
constexpr size_t kMaxDepth = 16;  // etcd's answers nest 5 deep; anything deeper is not etcd

int64_t num(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return 0;
  if (it->is_number_integer()) return it->get<int64_t>();
  if (it->is_string()) {
    const auto& s = it->get_ref<const std::string&>();
    if (!s.empty() && s.size() < 20 && s.find_first_not_of("-0123456789") == std::string::npos) return std::stoll(s);
  }
  return 0;
}

Result<KeyValue> keyValueOf(const json& kv) {
  KeyValue out;
  auto k = decodeBase64(kv.value("key", std::string()), 4096);
  if (!k) return makeError(Error::Code::kParse, "etcd: a key that is not base64");
  auto v = decodeBase64(kv.value("value", std::string()), kMaxValue);
  if (!v) return makeError(Error::Code::kParse, "etcd: a value that is not base64");
  out.key = std::move(*k);
  out.value = std::move(*v);
  out.create_revision = num(kv, "create_revision");
  out.mod_revision = num(kv, "mod_revision");
  out.lease = num(kv, "lease");
  return out;
}

struct Transfer {
  std::string body;
  bool overflow = false;
  // Streaming (watch): called with each complete JSON object; false stops the transfer.
  std::function<bool(const json&)> onObject;
  size_t scanned = 0;
  const std::atomic<bool>* stop = nullptr;
  bool stopped = false;
};

// The next complete JSON object in t.body from t.scanned on; "" when none is complete yet.
std::string nextObject(Transfer& t) {
  JsonTextScan scan;
  int depth = 0;
  size_t start = std::string::npos;
  for (size_t i = t.scanned; i < t.body.size(); ++i) {
    const int d = scan.step(t.body[i]);
    if (d > 0 && depth++ == 0) start = i;
    if (d < 0 && depth > 0 && --depth == 0) {
      t.scanned = i + 1;
      return t.body.substr(start, i + 1 - start);
    }
  }
  return "";
}

size_t onWrite(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  if (t->body.size() + size * n > kMaxAnswer) {
    t->overflow = true;
    return 0;
  }
  t->body.append(data, size * n);
  if (!t->onObject) return size * n;
  for (std::string obj; !(obj = nextObject(*t)).empty();) {
    json j = jsonDepthWithin(obj, kMaxDepth) ? json::parse(obj, nullptr, false) : json();
    if (j.is_discarded() || j.is_null() || !t->onObject(j)) {
      t->stopped = true;
      return 0;  // enough: the transfer ends here
    }
  }
  return size * n;
}

int onProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->stop && t->stop->load()) {
    t->stopped = true;
    return 1;
  }
  return 0;
}

// A failure etcd says is passing (another member may answer): no leader, leader changed, timeout.
bool transient(const std::string& msg, int64_t code) {
  return code == 14 || code == 4 || msg.find("leader") != std::string::npos ||
         msg.find("timed out") != std::string::npos || msg.find("unavailable") != std::string::npos;
}

}  // namespace

std::string prefixEnd(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    if (static_cast<unsigned char>(end.back()) < 0xff) {
      end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');  // every key
}

struct EtcdClient::Impl {
  EtcdOptions o;
  size_t current = 0;
  std::string last;
  std::string password;
  std::string token;  // from /v3/auth/authenticate; taken again when etcd says it is no longer valid

  // One POST on one endpoint: the CURLcode, the HTTP status.
  CURLcode post(const std::string& ep, const std::string& path, const std::string& body, long timeoutMs, Transfer& t,
                long* status) {
    CURL* c = curl_easy_init();
    if (!c) return CURLE_FAILED_INIT;
    curl_slist* h = curl_slist_append(nullptr, "Content-Type: application/json");
    if (!token.empty() && path != "/v3/auth/authenticate")
      h = curl_slist_append(h, ("Authorization: " + token).c_str());
    const std::string url = ep + path;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, onWrite);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeoutMs);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, std::min<long>(timeoutMs, 2000));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, onProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
    if (!o.ca.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o.ca.c_str());
    if (!o.cert.empty()) curl_easy_setopt(c, CURLOPT_SSLCERT, o.cert.c_str());
    if (!o.key.empty()) curl_easy_setopt(c, CURLOPT_SSLKEY, o.key.c_str());
    const CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return rc;
  }

  // A request on the first endpoint that answers, from the one that answered last. `stream`:
  // a watch (its objects go to t.onObject; a timeout is its normal end).
  Result<json> call(const std::string& path, const json& req, long timeoutMs, Transfer* stream = nullptr) {
    if (!o.user.empty() && token.empty()) {
      if (auto a = authenticate(); !a) return a.error();
    }
    auto r = request(path, req, timeoutMs, stream);
    // A token etcd no longer knows (expired, or the member restarted): one new one, one more try.
    if (!r && !o.user.empty() &&
        (r.error().message.find("token") != std::string::npos ||
         r.error().message.find("user name is empty") != std::string::npos)) {
      token.clear();
      if (auto a = authenticate(); !a) return a.error();
      r = request(path, req, timeoutMs, stream);
    }
    return r;
  }

  Result<void> authenticate() {
    auto j = request("/v3/auth/authenticate", json{{"name", o.user}, {"password", password}}, o.timeout_ms, nullptr);
    if (!j) return j.error();
    token = j->value("token", std::string());
    if (token.empty()) return makeError(Error::Code::kPermission, "etcd: user " + o.user + ": no token");
    return {};
  }

  Result<json> request(const std::string& path, const json& req, long timeoutMs, Transfer* stream) {
    const std::string body = req.dump();
    std::string failures;
    for (size_t tried = 0; tried < o.endpoints.size(); ++tried) {
      const size_t i = (current + tried) % o.endpoints.size();
      const std::string& ep = o.endpoints[i];
      Transfer local;
      Transfer& t = stream ? *stream : local;
      t.body.clear();
      t.scanned = 0;
      long status = 0;
      const CURLcode rc = post(ep, path, body, timeoutMs, t, &status);
      if (t.overflow) return makeError(Error::Code::kResource, ep + ": an answer of more than 64 MiB");
      const bool streamEnded = stream && (t.stopped || rc == CURLE_OPERATION_TIMEDOUT) && status == 200;
      if (rc != CURLE_OK && !streamEnded) {
        failures += (failures.empty() ? "" : "; ") + ep + ": " + curl_easy_strerror(rc);
        continue;
      }
      if (stream && status == 200) {
        current = i;
        last = ep;
        return json::object();
      }
      json j = jsonDepthWithin(t.body, kMaxDepth) ? json::parse(t.body, nullptr, false) : json();
      if (j.is_discarded() || !j.is_object())
        return makeError(Error::Code::kParse,
                         ep + ": HTTP " + std::to_string(status) + ", not etcd's JSON: " + t.body.substr(0, 200));
      if (status != 200 || j.contains("error")) {
        const std::string msg = j.value("error", j.value("message", std::string("HTTP ") + std::to_string(status)));
        const int64_t code = num(j, "code");
        if (msg.find("token") != std::string::npos || msg.find("user name is empty") != std::string::npos)
          return makeError(Error::Code::kPermission, ep + ": " + msg);
        if (code == 7 || code == 16 || msg.find("permission denied") != std::string::npos)
          return makeError(Error::Code::kPermission, ep + ": " + msg);
        if (transient(msg, code)) {
          failures += (failures.empty() ? "" : "; ") + ep + ": " + msg;
          continue;
        }
        return makeError(Error::Code::kIo, ep + ": " + msg);
      }
      current = i;
      last = ep;
      return j;
    }
    return makeError(Error::Code::kIo, "etcd: no endpoint answers (" + failures + ")");
  }
};

EtcdClient::EtcdClient(EtcdOptions o) : impl_(std::make_unique<Impl>()) { impl_->o = std::move(o); }
EtcdClient::~EtcdClient() = default;

Result<std::unique_ptr<EtcdClient>> EtcdClient::create(EtcdOptions o) {
  static const bool inited = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
  if (!inited) return makeError(Error::Code::kInternal, "libcurl did not initialise");
  if (o.endpoints.empty()) return makeError(Error::Code::kInvalidArgument, "etcd: no endpoint");
  for (const auto& e : o.endpoints)
    if (e.rfind("https://", 0) != 0 && e.rfind("http://", 0) != 0)
      return makeError(Error::Code::kInvalidArgument, "etcd: endpoint '" + e + "' is not https://HOST:PORT");
  for (const std::string* f : {&o.ca, &o.cert, &o.key})
    if (!f->empty() && ::access(f->c_str(), R_OK) != 0) return makeError(Error::Code::kIo, "etcd: cannot read " + *f);
  if (o.cert.empty() != o.key.empty())
    return makeError(Error::Code::kInvalidArgument, "etcd: a client certificate needs its key, and the reverse");
  std::string password;
  if (!o.user.empty()) {
    if (o.password_file.empty())
      return makeError(Error::Code::kInvalidArgument, "etcd: user " + o.user + " needs a password file");
    if (auto p = checkPrivateFile(o.password_file); !p) return p.error();
    auto p = readFileLimited(o.password_file, 4096);
    if (!p) return p.error();
    password = *p;
    while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) password.pop_back();
  }
  auto c = std::unique_ptr<EtcdClient>(new EtcdClient(std::move(o)));
  c->impl_->password = std::move(password);
  return c;
}

const std::string& EtcdClient::endpoint() const { return impl_->last; }

Result<RangeResult> EtcdClient::get(const std::string& key, bool prefix, int64_t limit, bool descending) {
  json req = {{"key", encodeBase64(key)}};
  if (prefix) req["range_end"] = encodeBase64(prefixEnd(key));
  if (limit) req["limit"] = limit;
  if (descending) req["sort_order"] = "DESCEND", req["sort_target"] = "KEY";
  auto j = impl_->call("/v3/kv/range", req, impl_->o.timeout_ms);
  if (!j) return j.error();
  RangeResult out;
  out.revision = num((*j)["header"], "revision");
  if (j->contains("kvs") && (*j)["kvs"].is_array()) {
    for (const auto& kv : (*j)["kvs"]) {
      auto x = keyValueOf(kv);
      if (!x) return x.error();
      out.kvs.push_back(std::move(*x));
    }
  }
  return out;
}

Result<int64_t> EtcdClient::put(const std::string& key, const std::string& value, int64_t lease) {
  json req = {{"key", encodeBase64(key)}, {"value", encodeBase64(value)}};
  if (lease) req["lease"] = std::to_string(lease);
  auto j = impl_->call("/v3/kv/put", req, impl_->o.timeout_ms);
  if (!j) return j.error();
  return num((*j)["header"], "revision");
}

Result<bool> EtcdClient::create(const std::string& key, const std::string& value) {
  const std::string k = encodeBase64(key);
  json req = {
      {"compare", json::array({{{"key", k}, {"target", "CREATE"}, {"result", "EQUAL"}, {"create_revision", "0"}}})},
      {"success", json::array({{{"request_put", {{"key", k}, {"value", encodeBase64(value)}}}}})}};
  auto j = impl_->call("/v3/kv/txn", req, impl_->o.timeout_ms);
  if (!j) return j.error();
  return j->value("succeeded", false);
}

Result<int64_t> EtcdClient::leaseGrant(int64_t ttlSeconds) {
  auto j = impl_->call("/v3/lease/grant", json{{"TTL", std::to_string(ttlSeconds)}}, impl_->o.timeout_ms);
  if (!j) return j.error();
  const int64_t id = num(*j, "ID");
  if (!id) return makeError(Error::Code::kParse, "etcd: a lease without an id");
  return id;
}

Result<int64_t> EtcdClient::leaseKeepAlive(int64_t id) {
  auto j = impl_->call("/v3/lease/keepalive", json{{"ID", std::to_string(id)}}, impl_->o.timeout_ms);
  if (!j) return j.error();
  // One answer of the stream: {"result": {"ID":…, "TTL":…}}.
  const json& r = j->contains("result") ? (*j)["result"] : *j;
  return num(r, "TTL");
}

Result<WatchResult> EtcdClient::watch(const std::string& prefix, int64_t fromRevision, int waitMs,
                                      const std::atomic<bool>* stop) {
  WatchResult out;
  std::string bad;
  Transfer t;
  t.stop = stop;
  t.onObject = [&](const json& obj) {
    const json& r = obj.contains("result") ? obj["result"] : obj;
    if (obj.contains("error")) {
      bad = obj["error"].dump();
      return false;
    }
    out.revision = std::max(out.revision, num(r.value("header", json::object()), "revision"));
    if (num(r, "compact_revision") > 0) {
      out.compacted = true;
      out.compact_revision = num(r, "compact_revision");
      return false;
    }
    if (r.contains("events") && r["events"].is_array()) {
      for (const auto& ev : r["events"]) {
        auto kv = keyValueOf(ev.value("kv", json::object()));
        if (!kv) {
          bad = kv.error().message;
          return false;
        }
        kv->deleted = ev.value("type", std::string()) == "DELETE";
        out.events.push_back(std::move(*kv));
      }
      return out.events.empty();  // something seen: answer now
    }
    return true;
  };
  json req = {{"create_request",
               {{"key", encodeBase64(prefix)},
                {"range_end", encodeBase64(prefixEnd(prefix))},
                {"start_revision", std::to_string(fromRevision)}}}};
  auto j = impl_->call("/v3/watch", req, waitMs, &t);
  if (!j) return j.error();
  if (!bad.empty()) return makeError(Error::Code::kParse, "etcd: watch: " + bad);
  return out;
}

}  // namespace goldgate::fleet
