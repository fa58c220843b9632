// A client of etcd v3 (Debian's etcd-server 3.4) through its JSON gateway (/v3/kv/..., /v3/watch,
// /v3/lease/...: etcd's documented HTTP mapping of its gRPC API), over libcurl with mutual TLS.
// Keys and values travel base64-encoded, as the gateway wants. Several endpoints: a request that
// cannot reach one member (down, partitioned, no leader) is tried on the next.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "goldgate/common/result.h"

namespace goldgate::fleet {

struct EtcdOptions {
  std::vector<std::string> endpoints;  // https://HOST:PORT (http:// without TLS)
  std::string ca;                      // the cluster's CA (PEM)
  std::string cert, key;               // this client's certificate and key (PEM)
  std::string user;                    // etcd user ("": authentication off)
  std::string password_file;           // its password (a file of mode 0600)
  int timeout_ms = 3000;               // one request, one endpoint
};

struct KeyValue {
  std::string key, value;
  int64_t create_revision = 0, mod_revision = 0, lease = 0;
  bool deleted = false;  // a watch event of a delete
};

struct RangeResult {
  int64_t revision = 0;  // the store's revision the answer is at
  std::vector<KeyValue> kvs;
};

struct WatchResult {
  int64_t revision = 0;          // the store's revision the last answer was at
  std::vector<KeyValue> events;  // in revision order
  bool compacted = false;        // the start revision was compacted away: read everything again
  int64_t compact_revision = 0;
};

class EtcdClient {
 public:
  /// Checks the options (an endpoint; TLS files readable when given). No connection yet.
  static Result<std::unique_ptr<EtcdClient>> create(EtcdOptions o);
  ~EtcdClient();

  /// The value of `key`, or every key starting with it (`prefix`), in key order (`descending`
  /// reverses it), at most `limit` (0: all). Errors: kIo (no endpoint answers: each named),
  /// kPermission (etcd refused this client's user), kParse (an answer that is not the gateway's).
  Result<RangeResult> get(const std::string& key, bool prefix = false, int64_t limit = 0, bool descending = false);
  /// Writes `key` (attached to `lease` when not 0); returns the revision it made. Errors as get.
  Result<int64_t> put(const std::string& key, const std::string& value, int64_t lease = 0);
  /// Writes `key` only if it does not exist (one transaction); false when it does. Errors as get.
  Result<bool> create(const std::string& key, const std::string& value);
  /// A lease of `ttlSeconds`; returns its id. Errors as get.
  Result<int64_t> leaseGrant(int64_t ttlSeconds);
  /// Renews lease `id`; returns its remaining TTL (0: it had expired, and its keys are gone).
  Result<int64_t> leaseKeepAlive(int64_t id);
  /// Waits up to `waitMs` for changes to keys starting with `prefix` from revision `fromRevision`
  /// on, and returns those seen (possibly none); returns early once some are, or when `stop` is
  /// set. Errors as get.
  Result<WatchResult> watch(const std::string& prefix, int64_t fromRevision, int waitMs,
                            const std::atomic<bool>* stop = nullptr);
  /// The endpoint the last request was answered by.
  const std::string& endpoint() const;

 private:
  explicit EtcdClient(EtcdOptions o);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The end of a prefix range: `prefix` with its last byte incremented (etcd's range_end).
std::string prefixEnd(const std::string& prefix);

}  // namespace goldgate::fleet
