// Exact data match: the hashes file a customer-records class matches against, built from a CSV
// of real identifiers. Only keyed hashes (HMAC-SHA-256, truncated to 16 bytes) of the normalised
// values are written; the clear values never reach the gateway's memory or files.
#pragma once

#include <cstdint>
#include <string>

#include "goldgate/common/result.h"
#include "goldgate/datapolicy/classes.h"

namespace goldgate::datapolicy {

struct ExactMatchBuild {
  std::string hashes;       // the file's text: "goldgate-edm 1", then one hash a line, sorted
  uint64_t values = 0;      // distinct values hashed
  uint64_t duplicates = 0;  // rows whose value was already seen
  uint64_t empty = 0;       // rows with an empty value in the column (after normalising)
  uint64_t rows = 0;        // data rows read (the header excluded)
};

/// Builds the hashes of column `column` (a header name, or a 1-based number) of `csv` (RFC 4180:
/// commas, double-quoted fields with "" inside; the first row is the header). Errors:
/// "NAME:LINE: reason" for a malformed row or an unknown column.
Result<ExactMatchBuild> buildExactMatch(const std::string& csv, const std::string& name, const std::string& column,
                                        ExactMatch::Normalise normalise, const std::string& key);

}  // namespace goldgate::datapolicy
