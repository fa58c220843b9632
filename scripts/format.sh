#!/usr/bin/env bash
# Formats the C++ sources with .clang-format (clang-format 14, Debian 12's), or with --check lists
# the files that are not formatted and fails. The sources are what git tracks or would (*.cc, *.h); outside
# a git checkout, every *.cc and *.h below the module folders and tests/.
# Usage: scripts/format.sh [--check]
set -euo pipefail
cd "$(dirname "$0")/.."
check=0
[ "${1:-}" = "--check" ] && check=1
fmt=$(command -v clang-format-14 || command -v clang-format || true)
if [ -z "$fmt" ]; then
  echo "format: clang-format is not installed (scripts/install-deps.sh test installs it)" >&2
  exit 2
fi
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files --cached --others --exclude-standard '*.cc' '*.h')
else
  mapfile -t files < <(find common proto crypto alerts datapolicy dataplane attest hostmon cli tests bench \
                            -name '*.cc' -o -name '*.h' 2>/dev/null | sort)
fi
if [ "$check" -eq 0 ]; then
  "$fmt" -i --style=file "${files[@]}"
  echo "format: ${#files[@]} files formatted"
  exit 0
fi
bad=()
for f in "${files[@]}"; do
  "$fmt" --style=file --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ "${#bad[@]}" -gt 0 ]; then
  echo "format: ${#bad[@]} of ${#files[@]} files are not formatted as .clang-format says (run: make format):" >&2
  printf '  %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "format: ${#files[@]} files formatted as .clang-format says"
