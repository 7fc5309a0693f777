#include "kernels/quantized_4bit_device.h"

#include <span>

#include "core/quant/dequantize_4bit.h"
#include "core/util/error.h"

namespace qls::cuda {
namespace {

template <typename T>
DeviceBuffer upload_vector(const std::vector<T>& v, cudaStream_t stream) {
    return to_device(std::span<const T>(v), stream);
}

}  // namespace

Quantized4bitDevice Quantized4bitDevice::upload(const Quantized4bit& q, cudaStream_t stream) {
    validate_quantized(q);  // packed and absmax (or codes) lengths against shape and blocksize
    const std::int64_t n = q.numel();
    Quantized4bitDevice d;
    d.type = q.type;
    d.blocksize = q.blocksize;
    d.dtype = q.dtype;
    d.n = n;
    d.packed = upload_vector(q.packed, stream);
    if (!q.nested) {
        d.absmax = upload_vector(q.absmax, stream);
        return d;
    }
    const NestedAbsmax& nested = *q.nested;
    QLS_CHECK(DataError, nested.blocksize > 0, "4-bit tensor: nested blocksize ", nested.blocksize);
    const std::size_t nested_blocks =
        (nested.codes.size() + std::size_t(nested.blocksize) - 1) / std::size_t(nested.blocksize);
    QLS_CHECK(DataError, nested.absmax.size() == nested_blocks, "4-bit tensor: ", nested.codes.size(),
              " nested codes need ", nested_blocks, " nested_absmax values, got ", nested.absmax.size());
    QLS_CHECK(DataError, nested.code_map.size() == 256, "4-bit tensor: nested_quant_map has ",
              nested.code_map.size(), " entries, expected 256");
    d.absmax_codes = upload_vector(nested.codes, stream);
    d.nested_absmax = upload_vector(nested.absmax, stream);
    d.nested_code_map = upload_vector(nested.code_map, stream);
    d.nested_offset = nested.offset;
    d.nested_blocksize = nested.blocksize;
    return d;
}

Dequantize4bitArgs Quantized4bitDevice::dequantize_args(void* out, DType out_dtype) const {
    Dequantize4bitArgs a;
    a.packed = packed.as<std::uint8_t>();
    a.n = n;
    a.type = type;
    a.blocksize = blocksize;
    if (nested()) {
        a.absmax_codes = absmax_codes.as<std::uint8_t>();
        a.nested_absmax = nested_absmax.as<float>();
        a.nested_code_map = nested_code_map.as<float>();
        a.nested_offset = nested_offset;
        a.nested_blocksize = nested_blocksize;
    } else {
        a.absmax = absmax.as<float>();
    }
    a.out = out;
    a.out_dtype = out_dtype;
    return a;
}

}  // namespace qls::cuda
