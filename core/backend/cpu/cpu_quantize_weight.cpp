// Backend::quantize_weight on the CPU: core quantize_4bit (formats.md §1.2, §2) of the weight's
// own bytes, copied into the caller's arrays, so it equals the host quantizer by construction.
// The workspace a device needs for the first-level absmax is not used: quantize_4bit keeps it.
#include <cstring>

#include "core/backend/cpu/cpu_backend.h"
#include "core/quant/quantize_4bit.h"

namespace qls {

namespace {

template <typename T>
void write(const Tensor& dst, const std::vector<T>& values) {
    QLS_ASSERT(dst.bytes() == values.size() * sizeof(T), "quantize_weight: ", describe(dst), " for ",
               values.size(), " values");
    std::memcpy(dst.data, values.data(), dst.bytes());
}

}  // namespace

void CpuBackend::quantize_weight_impl(const Tensor& src, const Tensor&, Quant4View& out) {
    const TensorView view{src.dtype, src.shape, {src.data, src.bytes()}};
    const Quantized4bit q = quantize_4bit(view, out.type, static_cast<int>(out.blocksize), out.nested());
    write(out.packed, q.packed);
    const std::array<float, 16> map = dequant_values(q);
    write(out.quant_map, std::vector<float>(map.begin(), map.end()));
    if (!q.nested) {
        write(out.absmax, q.absmax);
        return;
    }
    write(out.absmax_codes, q.nested->codes);
    write(out.nested_absmax, q.nested->absmax);
    write(out.code_map, q.nested->code_map);
    out.offset = q.nested->offset;
}

}  // namespace qls
