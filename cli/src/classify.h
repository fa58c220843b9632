// goldgatectl classify: offline classification of files, standard input and pcaps.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace goldgate::cli {

struct ClassifyOptions {
  std::string classes_dir;          // "" : defaultClassesDir()
  std::string cache_dir;            // compiled-database cache (empty: none)
  std::vector<std::string> inputs;  // files, pcaps, or "-" (standard input; the default)
  bool pcap = false;                // treat every input as a capture
  bool text = false;                // treat every input as bytes, even a capture
  bool stats = false;               // print database facts on standard error
  uint64_t max_decoded_mb = 16384;  // an input decodes to at most this much (compression, archives …)
  uint32_t max_ratio = 1000;        // ... and expands at most this many times (a bomb is an error)
  uint32_t max_depth = 6;           // decoding layers nested
  bool raw = false;                 // no decoding: the bytes as they are
};

/// Runs the classification; returns 0 when something was found, 1 when nothing was, 2 on error.
int runClassify(const ClassifyOptions& o);

/// Where the data classes are when --classes is not given: the installed ones
/// (/etc/goldgate/datapolicy), else the shipped ones of the source tree this goldgatectl was built
/// from (configs/datapolicy), else "" (the caller says both were looked for).
std::string defaultClassesDir();

struct EdmBuildOptions {
  std::string csv;
  std::string column;
  std::string key_file;
  std::string out;
  std::string normalise = "exact";  // digits, lower, exact
  bool new_key = false;             // create key_file (32 random bytes, mode 0600) if it does not exist
};

/// `goldgatectl datapolicy edm-build`: writes the exact-match hashes of a CSV column. 0 or 2.
int runEdmBuild(const EdmBuildOptions& o);

}  // namespace goldgate::cli
