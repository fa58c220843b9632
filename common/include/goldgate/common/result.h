// Result<T>: a value or an Error, shaped like C++23 std::expected so it can become an alias. A
// module whose callers must tell failures apart by more than Error::Code names its own error type:
// Result<T, E>.
#pragma once

#include <string>
#include <utility>
#include <variant>

namespace goldgate {

/// A failure with a machine-readable code and a human message ("file:line: reason" for config).
struct Error {
  enum class Code { kInvalidArgument, kNotFound, kIo, kParse, kResource, kPermission, kInternal };
  Code code = Code::kInternal;
  std::string message;
};

inline Error makeError(Error::Code code, std::string message) { return Error{code, std::move(message)}; }

/// Holds either a T or an E (an Error unless named). Access the value only after checking has_value().
template <typename T, typename E = Error>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(E error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool has_value() const { return v_.index() == 0; }
  explicit operator bool() const { return has_value(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const E& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

/// Result of an operation with no value.
template <typename E>
class [[nodiscard]] Result<void, E> {
 public:
  Result() = default;
  Result(E error) : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)
  bool has_value() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const E& error() const { return error_; }

 private:
  E error_;
  bool ok_ = true;
};

}  // namespace goldgate
