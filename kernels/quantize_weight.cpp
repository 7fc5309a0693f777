// Backend::quantize_weight on the GPU: the kernels of quantize_4bit.cu, bit-exact with
// bitsandbytes' CUDA quantize_4bit and its double quantization (formats.md §1.2, §2), run on the
// compute stream straight into the caller's arrays, so a base weight is quantized where it will
// live and never comes back to the host. With double quant the first-level absmax and the
// offset live in the workspace until the codes replace them; the offset is then read back,
// because Quant4View carries it as a host float.
//
// n weights, B = ceil(n / blocksize) blocks.
#include <cstdint>
#include <span>

#include "core/backend/quant4_arrays.h"
#include "core/quant/quant_tables.h"
#include "kernels/cuda_backend.h"
#include "kernels/cuda_ops.h"
#include "kernels/quantize_4bit.cuh"

namespace qls::cuda {

void quantize_weight(CudaBackend& be, const Tensor& src, const Tensor& workspace, Quant4View& out) {
    const cudaStream_t stream = be.stream();  // also makes the backend's device current
    const std::int64_t n = src.numel();
    const int blocksize = static_cast<int>(out.blocksize);
    const bool nested = out.nested();
    const std::string shapes = str_cat(describe(src), " ", quant_type_name(out.type), " blocksize ",
                                       blocksize, nested ? " double quant" : "");
    const std::array<float, 16> map = quant4_map(out.type);
    be.copy_from_host(out.quant_map, std::as_bytes(std::span<const float>(map)));

    // The workspace: absmax (B) at 0, the offset at the last 16 bytes (quant4_arrays.h).
    QLS_ASSERT(!nested || reinterpret_cast<std::uintptr_t>(workspace.data) % 16 == 0,
               "quantize_weight: workspace ", describe(workspace), " is not 16-byte aligned");
    float* absmax = nested ? workspace.ptr<float>() : out.absmax.ptr<float>();
    quantize_4bit({src.data, src.dtype, n, out.type, blocksize, out.packed.ptr<std::uint8_t>(), absmax},
                  stream);
    check_launch("quantize_weight", shapes);
    if (!nested) return;

    const std::int64_t blocks = quant4_layout(n, blocksize, true).blocks;
    const Tensor offset{
        workspace.data + quantize_weight_workspace_bytes(n, blocksize, true) - 16, DType::F32, {1}};
    be.copy_from_host(out.code_map, std::as_bytes(std::span<const float>(dynamic_signed_map())));
    absmax_mean(absmax, blocks, offset.ptr<float>(), stream);
    check_launch("quantize_weight absmax mean", shapes);
    double_quant_absmax({absmax, blocks, offset.ptr<float>(), out.code_map.ptr<float>(),
                         out.absmax_codes.ptr<std::uint8_t>(), out.nested_absmax.ptr<float>()},
                        stream);
    check_launch("quantize_weight double quant", shapes);
    float value = 0.0f;
    be.copy_to_host(offset, std::as_writable_bytes(std::span<float>(&value, 1)));
    out.offset = value;
}

}  // namespace qls::cuda
