#!/usr/bin/env bash
# The suite's parsers, data, trainer, export and command-line tests under AddressSanitizer +
# UndefinedBehaviorSanitizer (the `asan` preset: Debug, CPU only), as CI runs them after the
# main suite. The whole suite under ASan would take CI past its time: these are the tests of
# everything that reads untrusted input or writes a user's files, and of the base weights shared
# across threads and backends and uploaded through staging buffers.
set -euo pipefail
cd "$(dirname "$0")/.."
tests=(test_chat_template test_data test_tokenizer test_safetensors test_gguf test_model_io test_export
       test_export_destination test_quantize_checkpoint test_trainer test_util test_cli_reliability
       test_estimate test_interop test_tensorboard test_hub test_gguf_base test_ggml_quants
       test_run_comparison test_axolotl_export test_shared_base test_staged_upload)
cmake --preset asan -DQLS_BUILD_UI=OFF > /dev/null
cmake --build --preset asan --target qlora "${tests[@]}"
# halt_on_error: the first report fails the test; leak checking stays on.
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
ctest --preset asan -j 2 -R "^($(IFS='|'; echo "${tests[*]}"))\$"
