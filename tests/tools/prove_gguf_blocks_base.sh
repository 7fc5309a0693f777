#!/usr/bin/env bash
# Proof that a GGUF base kept in its own blocks (BaseWeightsOptions::gguf_blocks, the default) is
# the file's model, and what re-quantizing it to NF4 (--requantize-gguf) costs: the demo model is
# written as F32 and F16 GGUF by us, llama-quantize makes Q4_0, Q4_1 and Q8_0 files of it, and the
# demo validation text's perplexity (-c 128) is measured three ways per file:
#   own     qlora eval on the file's blocks         (should equal llama.cpp's, up to llama.cpp's
#                                                     8-bit quantization of activations in its
#                                                     quantized matmuls)
#   nf4     qlora eval --requantize-gguf            (the old behaviour: a second rounding)
#   llama   llama-perplexity on the same file
#
#   prove_gguf_blocks_base.sh QLORA_BIN LLAMA_CPP_BIN_DIR
# LLAMA_CPP_BIN_DIR: a CPU build of llama.cpp outside this repository (see prove_kquant_gguf.sh).
set -euo pipefail
qlora=$(realpath "$1")
llama=$(realpath "$2")
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
text="$repo/tests/fixtures/export/llama_cpp/pirate_valid.txt"
ppl() { sed -n 's/.*perplexity \([0-9.]*\).*/\1/p'; }

"$qlora" export "$repo/tests/fixtures/export/demo_adapter" --model "$repo/resources/demo/model" --gguf-base \
    --type f32 --out "$work/demo-F32.gguf" > /dev/null
echo "F32 (the original weights, --quant none): $("$qlora" eval "$work/demo-F32.gguf" --text "$text" --ctx 128 --quant none 2> /dev/null | ppl)"
printf '%-6s %10s %10s %10s\n' type own nf4 llama
for t in Q8_0 Q4_1 Q4_0; do
    "$llama/llama-quantize" "$work/demo-F32.gguf" "$work/demo-$t.gguf" "$t" > "$work/q.log" 2>&1 ||
        { cat "$work/q.log"; exit 1; }
    own=$("$qlora" eval "$work/demo-$t.gguf" --text "$text" --ctx 128 2> /dev/null | ppl)
    nf4=$("$qlora" eval "$work/demo-$t.gguf" --text "$text" --ctx 128 --requantize-gguf 2> /dev/null | ppl)
    # llama-perplexity at times exits (status 0) before printing its final estimate: run it again.
    theirs=
    for _ in 1 2 3 4 5 6; do
        theirs=$("$llama/llama-perplexity" -m "$work/demo-$t.gguf" -f "$text" -c 128 -b 128 2>&1 |
                 sed -n 's/.*Final estimate: PPL = \([0-9.]*\).*/\1/p')
        [[ -n $theirs ]] && break
    done
    printf '%-6s %10s %10s %10s\n' "$t" "$own" "$nf4" "${theirs:-?}"
done
