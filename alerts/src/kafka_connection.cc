// Kafka transport: an idempotent librdkafka producer (acks=all), so a record is confirmed only
// by its delivery report, and retries inside librdkafka neither reorder nor duplicate.
#include <librdkafka/rdkafka.h>

#include <cstring>
#include <set>

#include "connections.h"

namespace goldgate::alerts {
namespace {

class KafkaConnection final : public Connection {
 public:
  explicit KafkaConnection(const SinkConfig& cfg) : cfg_(cfg) {}
  ~KafkaConnection() override { close(); }

  Result<void> open() override {
    close();
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    auto set = [&](const std::string& k, const std::string& v) -> Result<void> {
      if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
        return makeError(Error::Code::kInvalidArgument, "kafka setting " + k + ": " + err);
      return {};
    };
    Result<void> r;
    for (auto [k, v] : std::initializer_list<std::pair<const char*, const char*>>{{"enable.idempotence", "true"},
                                                                                  {"acks", "all"},
                                                                                  {"message.timeout.ms", "30000"},
                                                                                  {"linger.ms", "5"},
                                                                                  {"log_level", "4"}})
      if (r) r = set(k, v);
    if (r) r = set("bootstrap.servers", cfg_.address);
    for (const auto& [k, v] : cfg_.kafka_properties)
      if (r) r = set(k, v);
    if (!r) {
      rd_kafka_conf_destroy(conf);
      return r;
    }
    rd_kafka_conf_set_opaque(conf, this);
    rd_kafka_conf_set_dr_msg_cb(conf, [](rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
      auto* self = static_cast<KafkaConnection*>(opaque);
      auto seq = reinterpret_cast<uintptr_t>(m->_private);
      self->outstanding_.erase(seq);
      if (m->err && self->error_.empty()) self->error_ = std::string("delivery failed: ") + rd_kafka_err2str(m->err);
    });
    rd_kafka_conf_set_error_cb(conf, [](rd_kafka_t*, int e, const char* reason, void* opaque) {
      auto* self = static_cast<KafkaConnection*>(opaque);
      auto code = static_cast<rd_kafka_resp_err_t>(e);
      if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || code == RD_KAFKA_RESP_ERR__FATAL) self->error_ = reason;
    });
    rk_ = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);  // takes conf on success
    if (!rk_) {
      rd_kafka_conf_destroy(conf);
      return makeError(Error::Code::kInvalidArgument, std::string("kafka: ") + err);
    }
    // Reachable means a broker answered for the topic's metadata.
    rkt_ = rd_kafka_topic_new(rk_, cfg_.topic.c_str(), nullptr);
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk_, 0, rkt_, &md, 3000);
    if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::string why = std::string("kafka ") + cfg_.address + ": " + rd_kafka_err2str(e);
      close();
      return makeError(Error::Code::kIo, why);
    }
    rd_kafka_metadata_destroy(md);
    error_.clear();
    return {};
  }

  void close() override {
    if (rk_) {
      rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
      rd_kafka_poll(rk_, 0);
      if (rkt_) rd_kafka_topic_destroy(rkt_);
      rd_kafka_destroy(rk_);
    }
    rk_ = nullptr;
    rkt_ = nullptr;
    outstanding_.clear();
    last_sent_ = 0;
  }

  Result<void> send(const Spool::Record& rec) override {
    for (int tries = 0;; ++tries) {
      if (rd_kafka_produce(rkt_, RD_KAFKA_PARTITION_UA, RD_KAFKA_MSG_F_COPY, const_cast<char*>(rec.payload.data()),
                           rec.payload.size(), nullptr, 0,
                           reinterpret_cast<void*>(static_cast<uintptr_t>(rec.seq))) == 0)
        break;
      rd_kafka_resp_err_t e = rd_kafka_last_error();
      if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || tries >= 50)
        return makeError(Error::Code::kIo, std::string("kafka produce: ") + rd_kafka_err2str(e));
      rd_kafka_poll(rk_, 20);  // the local queue is full: serve delivery reports, then retry
    }
    outstanding_.insert(rec.seq);
    last_sent_ = rec.seq;
    return {};
  }

  Result<uint64_t> confirmed() override {
    if (!rk_) return uint64_t{0};
    rd_kafka_poll(rk_, 0);
    if (!error_.empty()) return makeError(Error::Code::kIo, "kafka " + cfg_.address + ": " + error_);
    return outstanding_.empty() ? last_sent_ : *outstanding_.begin() - 1;
  }

  bool idle() override { return outstanding_.empty(); }

 private:
  const SinkConfig& cfg_;
  rd_kafka_t* rk_ = nullptr;
  rd_kafka_topic_t* rkt_ = nullptr;
  std::set<uint64_t> outstanding_;
  uint64_t last_sent_ = 0;
  std::string error_;
};

}  // namespace

Result<std::unique_ptr<Connection>> makeKafkaConnection(const SinkConfig& cfg) {
  if (cfg.topic.empty()) return makeError(Error::Code::kInvalidArgument, "kafka: no topic");
  return std::unique_ptr<Connection>(new KafkaConnection(cfg));
}

}  // namespace goldgate::alerts
