#!/usr/bin/env bash
# The whole GPU check in one device call. The lent GPU machine (Ubuntu 24.04, CUDA 13, Python
# with torch/transformers/peft/tokenizers; no Qt, no network) gets binaries built here, their
# libraries and the inputs they read, as one archive:
#
#   kernels/bench/gpu_check.sh pack     here: build for sm_90 in build-gpu/, bundle into
#                                       build-gpu-bundle/ (git ignores /build*/)
#   kernels/bench/gpu_check.sh run      there, from the repository root:
#     run(command="kernels/bench/gpu_check.sh run", carry=["build-gpu-bundle"])
#
# `run` writes the steps' output and a summary to $OUT/gpu_check.log (else build-gpu-out/):
#   1. test_cuda_quant, test_cuda_ggml: the Qt Test suites of the CUDA kernels (4-bit, GGUF
#      blocks; they QSKIP on machines without a GPU)
#   2. qls-bench-kernels: validation against the CPU reference and the bnb fixtures, then timings
#   3. the same validation under compute-sanitizer memcheck
#   4. qls-measure-rcp: rcp.approx.ftz.f32 measured and checked over every float; writes the table
#      core/quant/rcp_approx_table.inc holds (rcp_approx_table.inc in $OUT: diff it against ours)
#   5. tokenizers: `qlora bench tokenize` beside the `tokenizers` library (hf_tokenizers_speed.py)
#      on the same text, for each ref/tokenizers fixture
#   6. peft: tests/fixtures/export/check_peft_export.py on our exported demo adapter and merged
#      model; peft_logits.safetensors comes back (tests/fixtures/export/demo_peft_logits.safetensors)
#   7. torch_mean: samples of torch's CUDA mean (torch_mean_samples.py), the double-quant offset
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$repo/build-gpu
bundle=$repo/build-gpu-bundle
out=${OUT:-$repo/build-gpu-out}
shared=$repo/../shared
bins=(test_cuda_quant test_cuda_ggml qls-bench-kernels qls-measure-rcp qlora)

# Libraries every Linux with CUDA 13 has; everything else our binaries load travels.
system_lib() {
    [[ $1 =~ ^(linux-vdso|ld-linux|libc\.|libm\.|libgcc_s|libstdc\+\+|libpthread|libdl\.|librt\.|libcuda|libcudart|libcublas) ]]
}

pack() {
    set -e
    cmake -S "$repo" -B "$build" -G Ninja -DQLS_BUILD_UI=OFF -DQLS_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_EXE_LINKER_FLAGS=-Wl,--as-needed > /dev/null
    cmake --build "$build" --target "${bins[@]}"
    rm -rf "$bundle"
    local stage=$bundle/stage
    mkdir -p "$stage"/{bin,lib,shared/fixtures/ref,peft}
    for b in "${bins[@]}"; do cp "$build/bin/$b" "$stage/bin/"; done
    ldd "$stage"/bin/* | awk '/=> \//{print $1, $3}' | sort -u | while read -r name path; do
        system_lib "$name" || cp -L "$path" "$stage/lib/$name"
    done
    cp -r "$shared/fixtures/ref/bnb" "$shared/fixtures/ref/tokenizers" "$stage/shared/fixtures/ref/"
    grep -m1 '^QLS_SHARED_DIR:' "$build/CMakeCache.txt" | cut -d= -f2 > "$stage/built_shared_dir"
    # The peft proof: the merged export of our demo adapter onto the original weights.
    "$build/bin/qlora" export "$repo/tests/fixtures/export/demo_adapter" --merged \
        --model "$repo/resources/demo/model" --merge-onto original --out "$stage/peft/merged" > /dev/null
    tar -C "$stage" -cf - . | xz -T2 -3 > "$bundle/bundle.tar.xz"
    rm -rf "$stage"
    du -sh "$bundle/bundle.tar.xz"
}

# step NAME COMMAND...: run it, append its output to $out/gpu_check.log (the device tool
# brings back at most 8 files), record PASS/FAIL in the summary.
step() {
    local name=$1 rc=0
    shift
    echo "== $name: $*" | tee -a "$out/gpu_check.log"
    "$@" > "$work/$name.log" 2>&1 || rc=$?
    cat "$work/$name.log" >> "$out/gpu_check.log"
    tail -15 "$work/$name.log"
    if ((rc == 0)); then
        summary+=("PASS  $name")
    else
        summary+=("FAIL  $name (exit $rc)")
    fi
}

tokenizer_speed() {
    local dir
    for dir in "$work/shared/fixtures/ref/tokenizers"/*/; do
        echo "--- $(basename "$dir"): ours"
        "$work/bin/qlora" bench tokenize "$dir" || return 1
        echo "--- $(basename "$dir"): tokenizers $(python3 -c 'import tokenizers; print(tokenizers.__version__)')"
        python3 "$repo/kernels/bench/hf_tokenizers_speed.py" "$dir" || return 1
    done
}

peft_check() {
    local inputs=$work/peft/input_ids.safetensors
    cp "$repo/tests/fixtures/export/input_ids.safetensors" "$inputs"
    python3 "$repo/tests/fixtures/export/check_peft_export.py" "$repo/resources/demo/model" \
        "$repo/tests/fixtures/export/demo_adapter" --merged "$work/peft/merged" --inputs "$inputs" &&
        cp "$work/peft/peft_logits.safetensors" "$out/demo_peft_logits.safetensors"
}

run() {
    mkdir -p "$out"
    : > "$out/gpu_check.log"
    summary=()
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    xz -dc "$bundle/bundle.tar.xz" | tar -C "$work" -xf -
    export LD_LIBRARY_PATH=$work/lib:/usr/local/cuda/lib64${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export PYTHONUNBUFFERED=1
    # Tests read tests/fixtures of this checkout, not of the one they were built in (test_support.h).
    export QLS_SOURCE_DIR=$repo
    # The test binaries read the fixtures from the path they were built with (../shared).
    local built_shared
    built_shared=$(realpath -m "$(cat "$work/built_shared_dir")")
    if [[ ! -e $built_shared ]]; then
        mkdir -p "$(dirname "$built_shared")"
        ln -s "$work/shared" "$built_shared"
    fi
    local fixtures=$work/shared/fixtures/ref/bnb
    step nvidia-smi nvidia-smi
    step rcp "$work/bin/qls-measure-rcp" --table "$out/rcp_approx_table.inc"
    step peft peft_check
    step cuda_tests "$work/bin/test_cuda_quant"
    step cuda_ggml "$work/bin/test_cuda_ggml"
    step tokenizers tokenizer_speed
    step torch_mean python3 "$repo/kernels/bench/torch_mean_samples.py" "$out"
    step bench timeout 240 "$work/bin/qls-bench-kernels" --fixtures "$fixtures" --results "$out/bench_results.tsv"
    step sanitize timeout 150 compute-sanitizer --tool memcheck --error-exitcode 3 \
        "$work/bin/qls-bench-kernels" --fixtures "$fixtures" --quick --no-timing
    step sanitize_ggml timeout 120 compute-sanitizer --tool memcheck --error-exitcode 3 "$work/bin/test_cuda_ggml"
    printf '%s\n' "== summary" "${summary[@]}" | tee -a "$out/gpu_check.log"
    [[ ${summary[*]} != *FAIL* ]]
}

case "${1:-}" in
    pack) pack ;;
    run) run ;;
    *) sed -n '2,/^set /p' "$0" | sed '$d'; exit 2 ;;
esac
