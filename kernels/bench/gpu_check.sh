#!/usr/bin/env bash
# The GPU check of the CUDA kernels: build qls-bench-kernels, which validates the 4-bit kernels
# against the CPU reference and the bitsandbytes fixtures bit for bit, then times them.
#
#   kernels/bench/gpu_check.sh pack            on a dev machine: gather into build-gpu-deps/
#                                              what the GPU machine lacks (see below)
#   kernels/bench/gpu_check.sh build           on the GPU machine: configure and build only
#   kernels/bench/gpu_check.sh run [ARGS]      on the GPU machine: configure, build, run;
#                                              ARGS go to qls-bench-kernels (--quick, --reps N)
#   kernels/bench/gpu_check.sh sanitize        on the GPU machine: the quick validation under
#                                              compute-sanitizer memcheck
#
# Logs and results go to $OUT (the device tool's output folder), else build-gpu-out/.
#
# The lent GPU machine (Ubuntu 24.04, CUDA 13, cmake, ninja; no Qt, no network) has no Qt,
# hence QLS_BUILD_TESTS=OFF and a Qt-free benchmark. The top-level CMakeLists.txt also asks
# for nlohmann_json (find_package), pkg-config and PCRE2 (pkg_check_modules), which such an
# image may lack: `pack` copies this machine's headers, static libpcre2-8, pkgconf and the bnb
# fixtures (../shared does not travel) into build-gpu-deps/, about 12 MB. git ignores it
# (/build*/), so name it in the device tool's carry:
#   run(command="kernels/bench/gpu_check.sh run", carry=["build-gpu-deps"])
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
deps=$repo/build-gpu-deps
build=$repo/build-gpu
out=${OUT:-$repo/build-gpu-out}

pack() {
    local lib=/usr/lib/x86_64-linux-gnu
    rm -rf "$deps"
    mkdir -p "$deps"/{bin,include,lib/pkgconfig,share/cmake,fixtures}
    cp -r /usr/include/nlohmann "$deps/include/"
    cp -r /usr/share/cmake/nlohmann_json "$deps/share/cmake/"  # relocatable: paths from its own location
    cp /usr/include/pcre2.h "$deps/include/"
    cp "$lib/libpcre2-8.a" "$deps/lib/"  # static only, so nothing is needed at run time
    cat > "$deps/lib/pkgconfig/libpcre2-8.pc" <<'EOF'
prefix=${pcfiledir}/../..
libdir=${prefix}/lib
includedir=${prefix}/include

Name: libpcre2-8
Description: PCRE2 8-bit library (static, carried for the GPU check)
Version: 10.42
Libs: -L${libdir} -lpcre2-8
Cflags: -I${includedir}
EOF
    cp /usr/bin/pkgconf "$deps/bin/pkgconf.bin"
    cp "$lib/libpkgconf.so.3" "$deps/lib/"
    cat > "$deps/bin/pkg-config" <<'EOF'
#!/bin/sh
here=$(dirname "$(readlink -f "$0")")
LD_LIBRARY_PATH="$here/../lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" exec "$here/pkgconf.bin" "$@"
EOF
    chmod +x "$deps/bin/pkg-config"
    cp "$repo/../shared/fixtures/ref/bnb/"*.safetensors "$deps/fixtures/"
    du -sh "$deps"
}

configure_and_build() {
    local args=(-G Ninja -DQLS_BUILD_UI=OFF -DQLS_BUILD_TESTS=OFF -DCMAKE_CUDA_ARCHITECTURES=90)
    if [[ -d $deps ]]; then
        export PKG_CONFIG_PATH=$deps/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
        args+=(-DCMAKE_PREFIX_PATH="$deps" -DPKG_CONFIG_EXECUTABLE="$deps/bin/pkg-config")
    fi
    cmake -S "$repo" -B "$build" "${args[@]}" > "$out/configure.log" 2>&1 ||
        { tail -40 "$out/configure.log"; return 1; }
    cmake --build "$build" --target qls-bench-kernels -j "$(nproc)" > "$out/build.log" 2>&1 ||
        { grep -E "error|FAILED" "$out/build.log" | head -40; return 1; }
    grep -E "warning" "$out/build.log" | grep -E "kernels/" | head -20 || true
}

fixture_args() {
    if [[ -d $deps/fixtures ]]; then echo "--fixtures $deps/fixtures"; fi
}

run() {
    mkdir -p "$out"
    nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
    configure_and_build
    # shellcheck disable=SC2046
    "$build/bin/qls-bench-kernels" $(fixture_args) --results "$out/bench_results.tsv" "$@" \
        2>&1 | tee "$out/bench.log"
}

sanitize() {
    mkdir -p "$out"
    configure_and_build
    # shellcheck disable=SC2046
    compute-sanitizer --tool memcheck --error-exitcode 3 \
        "$build/bin/qls-bench-kernels" $(fixture_args) --quick --no-timing 2>&1 |
        tee "$out/sanitize.log" | { grep -vE "^PASS" || true; } | tail -40
}

case "${1:-}" in
    pack) pack ;;
    build) mkdir -p "$out"; configure_and_build ;;
    run) shift; run "$@" ;;
    sanitize) sanitize ;;
    *) sed -n '2,14p' "$0"; exit 2 ;;
esac
