#!/usr/bin/env bash
# Regenerates the seed corpora (tests/fuzz/corpus/<target>/, except the regress-* files: inputs
# that once found a bug, added by hand) and the command dictionary
# (tests/fuzz/command_args_fuzz.dict) from the fuzz targets' seed mode: each target writes its
# seeds when DKV_FUZZ_WRITE_CORPUS names a directory. Run after changing a target's seeds or the
# command table, then commit the result:
#
#   tests/fuzz/make_corpus.sh [BUILD_DIR]    # default build-fuzz, built with --target fuzz_all
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-fuzz}
for t in resp_request_fuzz command_args_fuzz log_entry_fuzz snapshot_fuzz raft_message_fuzz wal_record_fuzz; do
  dir=tests/fuzz/corpus/$t
  mkdir -p "$dir"
  find "$dir" -type f ! -name 'regress-*' -delete  # regress-*: inputs that once failed, kept by hand
  DKV_FUZZ_WRITE_CORPUS=$dir "$build/tests/fuzz/$t"
  echo "$t: $(ls "$dir" | wc -l) seeds, $(du -sk "$dir" | cut -f1) KB"
done
DKV_FUZZ_WRITE_DICT=tests/fuzz/command_args_fuzz.dict "$build/tests/fuzz/command_args_fuzz"
