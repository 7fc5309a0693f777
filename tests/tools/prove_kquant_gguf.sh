#!/usr/bin/env bash
# Proof that our Q4_K_M / Q5_K_M / Q6_K merged GGUFs are what llama.cpp itself makes and runs:
# the demo model merged with tests/fixtures/export/demo_adapter (onto the original weights) is
# exported as F32, F16 and each mix; then
#   (a) llama-quantize turns our F32 and our F16 file into each mix, and every tensor of ours is
#       compared with its (type and bytes; tests/tools/compare_gguf_tensors.py). From F32 all must
#       be identical (exit status 1 otherwise); from F16 llama-quantize sees the F16-rounded
#       weights, so only the types must agree and the bytes of the few tensors F16 holds exactly;
#   (b) llama-perplexity runs on the demo validation text
#       (tests/fixtures/export/llama_cpp/pirate_valid.txt, -c 128 -b 128) for each file.
#
#   prove_kquant_gguf.sh QLORA_BIN LLAMA_CPP_BIN_DIR GGUF_PY_DIR [PYTHON]
# LLAMA_CPP_BIN_DIR: a CPU build of llama.cpp outside this repository, from the llama-cpp-python
# source package (pip download --no-binary :all: --no-deps llama-cpp-python; vendor/llama.cpp):
#   cmake -S vendor/llama.cpp -B build -DGGML_NATIVE=OFF -DGGML_CUDA=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF
# (GGML_NATIVE=OFF: with a shared ccache, -march=native objects can come from another CPU.)
#   cmake --build build --target llama-quantize llama-perplexity -j2
# GGUF_PY_DIR: vendor/llama.cpp/gguf-py of the same source; PYTHON must have numpy.
set -euo pipefail
qlora=$(realpath "$1")
llama=$(realpath "$2")
gguf_py=$(realpath "$3")
python=${4:-python3}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
text="$repo/tests/fixtures/export/llama_cpp/pirate_valid.txt"
export_args=("$repo/tests/fixtures/export/demo_adapter" --model "$repo/resources/demo/model" --merge-onto original)
mixes=(Q4_K_M Q5_K_M Q6_K)

for t in f32 f16 q4_k_m q5_k_m q6_k; do
    "$qlora" export "${export_args[@]}" --gguf --type "$t" --out "$work/ours-$t.gguf" > /dev/null
done
status=0
echo "== (a) tensor types and bytes: ours vs llama-quantize"
for src in f32 f16; do
    for mix in "${mixes[@]}"; do
        "$llama/llama-quantize" "$work/ours-$src.gguf" "$work/llama-$src-$mix.gguf" "$mix" > "$work/q.log" 2>&1 ||
            { cat "$work/q.log"; exit 1; }
        printf '%-7s from our %s: ' "$mix" "${src^^}"
        PYTHONPATH="$gguf_py" "$python" "$here/compare_gguf_tensors.py" "$work/ours-${mix,,}.gguf" \
            "$work/llama-$src-$mix.gguf" || { [[ $src == f32 ]] && status=1; }
    done
done

echo "== (b) llama-perplexity on $(basename "$text") (-c 128 -b 128)"
# llama.cpp logs from a worker thread that, on a busy machine, can be cut off at exit before the
# last chunk and the final estimate are out (stdout and --log-file alike, exit status 0): the run
# is repeated until the estimate shows, up to six times.
ppl() {
    local result=""
    for _ in 1 2 3 4 5 6; do
        rm -f "$work/ppl.log"
        "$llama/llama-perplexity" -m "$1" -f "$text" -c 128 -b 128 --log-file "$work/ppl.log" > "$work/ppl.out" 2>&1 || true
        result=$(cat "$work/ppl.out" "$work/ppl.log" 2>/dev/null |
            sed -n 's/.*Final estimate: PPL = \([0-9.]*\) +\/- \([0-9.]*\).*/\1 +- \2/p' | head -n1) || true
        [[ -n "$result" ]] && break
    done
    echo "${result:-no estimate}"
}
size() { stat -c %s "$1"; }
printf '%-28s %12s %s\n' file bytes ppl
for f in ours-f32 ours-f16 ours-q6_k ours-q5_k_m ours-q4_k_m llama-f16-Q6_K llama-f16-Q5_K_M llama-f16-Q4_K_M; do
    printf '%-28s %12s %s\n' "$f.gguf" "$(size "$work/$f.gguf")" "$(ppl "$work/$f.gguf")"
done
exit $status
