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
# `run` writes the steps' output and a summary to $OUT/gpu_check.log (else build-gpu-out/), the
# CUDA backend's checks first (the time left after them goes to the older, slower steps):
#   1. cuda_ops: test_cuda_backend_ops, every row of the op table on the CUDA backend
#   2. cuda_attention: test_cuda_attention, the fused attention against a host reference up to
#      T = 4096 with packed sequences, and the deterministic backward twice
#   3. cuda_step: test_cuda_train_step, the whole QLoRA step against peft's fp32 fixtures and
#      against the CPU twin in fp32, bf16 and fp16; cuda_planner: test_cuda_memory_planner, the
#      reserved op scratch is the measured workspace
#   4. demo200: a 200-step bf16 demo run on the GPU beside the same run on the CPU twin (trained
#      here at pack time, carried), loss curves side by side (compare_loss_curves.py)
#   5. bench_ops: qls-bench-ops, the backend's ops at 7B shapes against cuBLAS and a device copy
#   6. memcheck / racecheck: compute-sanitizer on the CUDA tests; then `qlora bench train
#      --shape llama-1b` on the GPU when time is left, its peak by category against the estimate
#      (FAIL beyond 5 %)
#   7. test_cuda_quant (run early, after the planner: it also checks loading through pinned
#      staging and a base read by a second backend), test_cuda_ggml: the Qt Test suites of the
#      4-bit and GGUF-block kernels
#   8. qls-bench-kernels: validation against the CPU reference and the bnb fixtures, then timings,
#      and the same validation under compute-sanitizer memcheck
#   9. qls-measure-rcp: rcp.approx.ftz.f32 measured and checked over every float; writes the table
#      core/quant/rcp_approx_table.inc holds (rcp_approx_table.inc in $OUT: diff it against ours)
#  10. tokenizers: `qlora bench tokenize` beside the `tokenizers` library (hf_tokenizers_speed.py)
#  11. peft: tests/fixtures/export/check_peft_export.py on our exported demo adapter and merged
#      model; peft_logits.safetensors comes back (tests/fixtures/export/demo_peft_logits.safetensors)
#  12. torch_mean: samples of torch's CUDA mean (torch_mean_samples.py), the double-quant offset
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$repo/build-gpu
bundle=$repo/build-gpu-bundle
out=${OUT:-$repo/build-gpu-out}
shared=$repo/../shared
bins=(test_cuda_backend_ops test_cuda_attention test_cuda_train_step test_cuda_memory_planner test_cuda_quant test_cuda_ggml qls-bench-kernels
      qls-bench-ops qls-measure-rcp qlora)
# The demo run both devices train (README's demo settings, bf16, 200 steps).
demo_args=(--model resources/demo/model --data resources/demo/data/pirate_fortunes_train.jsonl
           --valid-data resources/demo/data/pirate_fortunes_valid.jsonl --max-steps 200 --eval-every 50
           --save-every 200 --lr 1e-3 --rank 8 --alpha 16 --micro-batch 8 --max-seq-len 128 --seed 7
           --compute-dtype bf16)

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
    # The CPU twin's side of the demo run, trained here (so the device's minutes go to the GPU),
    # in bf16 and in fp32 (how far bf16 rounding alone moves the curve).
    (cd "$repo" && "$build/bin/qlora" train "${demo_args[@]}" --device cpu --out "$stage/demo_cpu" > /dev/null &&
        "$build/bin/qlora" train "${demo_args[@]}" --device cpu --compute-dtype fp32 --out "$stage/demo_cpu_fp32" \
            > /dev/null)
    for b in "${bins[@]}"; do cp "$build/bin/$b" "$stage/bin/"; done
    ldd "$stage"/bin/* | awk '/=> \//{print $1, $3}' | sort -u | while read -r name path; do
        system_lib "$name" || cp -L "$path" "$stage/lib/$name"
    done
    cp -r "$shared/fixtures/ref/bnb" "$shared/fixtures/ref/tokenizers" "$shared/fixtures/ref/models" \
        "$shared/fixtures/ref/lora" "$stage/shared/fixtures/ref/"
    grep -m1 '^QLS_SHARED_DIR:' "$build/CMakeCache.txt" | cut -d= -f2 > "$stage/built_shared_dir"
    # The peft proof: the merged export of our demo adapter onto the original weights.
    "$build/bin/qlora" export "$repo/tests/fixtures/export/demo_adapter" --merged \
        --model "$repo/resources/demo/model" --merge-onto original --out "$stage/peft/merged" > /dev/null
    tar -C "$stage" -cf - . | xz -T2 -3 > "$bundle/bundle.tar.xz"
    rm -rf "$stage"
    du -sh "$bundle/bundle.tar.xz"
}

# step NAME COMMAND...: run it, append its output to $out/gpu_check.log (the device tool
# brings back at most 8 files), record PASS/FAIL and its seconds in the summary; once the
# script has run for $budget seconds the remaining steps are skipped (the device call must end
# within its limit, with time left to rerun).
budget=${GPU_CHECK_BUDGET_S:-400}
step() {
    local name=$1 rc=0
    shift
    if ((SECONDS >= budget)); then
        summary+=("SKIP  $name (the ${budget} s budget was spent)")
        return
    fi
    echo "== $name: $*" | tee -a "$out/gpu_check.log"
    local start=$SECONDS
    "$@" > "$work/$name.log" 2>&1 || rc=$?
    cat "$work/$name.log" >> "$out/gpu_check.log"
    tail -15 "$work/$name.log"
    if ((rc == 0)); then
        summary+=("PASS  $name ($((SECONDS - start)) s)")
    else
        summary+=("FAIL  $name (exit $rc, $((SECONDS - start)) s)")
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

# A llama-1b bench run on the GPU: its measured device peak by category against the estimate,
# which must agree within 5 % (issue 13).
estimate_check() {
    timeout 90 "$work/bin/qlora" bench train --shape llama-1b --device cuda --json > "$out/bench_train_1b.json" ||
        return
    python3 - "$out/bench_train_1b.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
est, peak, mib = r["estimated_bytes"], r["peak_bytes"], 2.0**20
for k, v in r["peak_by_category"].items():
    print(f"{k:18s} peak {v / mib:10.1f} MiB   estimate {r['estimate_by_category'][k] / mib:10.1f} MiB")
in_use = r["device_in_use_peak_bytes"] or 0
print(f"device total: peak {peak / mib:.1f} MiB, estimate {est / mib:.1f} MiB "
      f"({100.0 * (peak - est) / est:+.2f} %); cudaMemGetInfo in use {in_use / mib:.1f} MiB")
print(f"{r['tokens_per_s']:.0f} tokens/s, median step {r['median_step_s']:.3f} s")
sys.exit(0 if abs(peak - est) <= 0.05 * est else 1)
PY
}

demo_run() {
    (cd "$repo" && timeout 90 "$work/bin/qlora" train "${demo_args[@]}" --device cuda --out "$work/demo_gpu") \
        > "$work/demo_gpu.log" 2>&1 ||
        { tail -20 "$work/demo_gpu.log"; return 1; }
    grep -E "^(device|step 200)" "$work/demo_gpu.log"
    python3 "$repo/kernels/bench/compare_loss_curves.py" "$work/demo_cpu" "$work/demo_cpu_fp32" "$work/demo_gpu"
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
    step cuda_ops timeout 90 "$work/bin/test_cuda_backend_ops"
    step cuda_attention timeout 90 "$work/bin/test_cuda_attention"
    step cuda_step timeout 60 "$work/bin/test_cuda_train_step"
    step cuda_planner timeout 60 "$work/bin/test_cuda_memory_planner"
    step cuda_tests timeout 90 "$work/bin/test_cuda_quant"
    step demo200 demo_run
    step memcheck_ops timeout 90 compute-sanitizer --tool memcheck --error-exitcode 3 "$work/bin/test_cuda_backend_ops"
    step racecheck_attention timeout 90 compute-sanitizer --tool racecheck --error-exitcode 3 \
        "$work/bin/test_cuda_attention"
    step bench_ops timeout 60 "$work/bin/qls-bench-ops"
    step memcheck_step timeout 60 compute-sanitizer --tool memcheck --error-exitcode 3 \
        "$work/bin/test_cuda_train_step" fp32AgainstPeft
    step racecheck_ops timeout 60 compute-sanitizer --tool racecheck --error-exitcode 3 "$work/bin/test_cuda_backend_ops"
    step bench_train_1b estimate_check
    step cuda_ggml "$work/bin/test_cuda_ggml"
    step bench timeout 240 "$work/bin/qls-bench-kernels" --fixtures "$fixtures" --results "$out/bench_results.tsv"
    step sanitize timeout 150 compute-sanitizer --tool memcheck --error-exitcode 3 \
        "$work/bin/qls-bench-kernels" --fixtures "$fixtures" --quick --no-timing
    step sanitize_ggml timeout 120 compute-sanitizer --tool memcheck --error-exitcode 3 "$work/bin/test_cuda_ggml"
    step rcp timeout 60 "$work/bin/qls-measure-rcp" --table "$out/rcp_approx_table.inc"
    step peft peft_check
    step tokenizers tokenizer_speed
    step torch_mean timeout 60 python3 "$repo/kernels/bench/torch_mean_samples.py" "$out"
    printf '%s\n' "== summary" "${summary[@]}" | tee -a "$out/gpu_check.log"
    [[ ${summary[*]} != *FAIL* ]]
}

case "${1:-}" in
    pack) pack ;;
    run) run ;;
    *) sed -n '2,/^set /p' "$0" | sed '$d'; exit 2 ;;
esac
