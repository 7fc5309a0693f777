#include "core/inspect/weight_memory.h"

#include "core/model/llama_tensors.h"

namespace qls {

std::string_view weight_scheme_name(WeightScheme s) {
    switch (s) {
        case WeightScheme::Bf16: return "bf16";
        case WeightScheme::Nf4: return "nf4";
        case WeightScheme::Nf4DoubleQuant: return "nf4+dq";
        case WeightScheme::Fp4: return "fp4";
    }
    return "?";
}

std::uint64_t quantized_tensor_bytes(std::int64_t n, int blocksize, bool double_quant) {
    const auto un = static_cast<std::uint64_t>(n);
    const std::uint64_t blocks = (un + blocksize - 1) / blocksize;
    std::uint64_t bytes = (un + 1) / 2 + 16 * 4;  // packed nibbles + quant_map
    if (double_quant)
        bytes += blocks + (blocks + 255) / 256 * 4 + 256 * 4;  // codes + nested absmax + nested map
    else
        bytes += blocks * 4;
    return bytes;
}

WeightMemory weight_memory(const LlamaConfig& config, WeightScheme scheme, int blocksize) {
    WeightMemory m;
    m.scheme = scheme;
    for (const auto& t : llama_expected_tensors(config)) {
        const std::int64_t n = numel(t.shape);
        if (t.linear) {
            m.linear_params += n;
            m.linear_bytes += scheme == WeightScheme::Bf16
                                  ? static_cast<std::uint64_t>(n) * 2
                                  : quantized_tensor_bytes(n, blocksize, scheme == WeightScheme::Nf4DoubleQuant);
        } else {
            m.other_params += n;
            m.other_bytes += static_cast<std::uint64_t>(n) * 2;
        }
    }
    return m;
}

std::vector<WeightMemory> weight_memory_all(const LlamaConfig& config, int blocksize) {
    std::vector<WeightMemory> out;
    for (auto s : {WeightScheme::Bf16, WeightScheme::Nf4, WeightScheme::Nf4DoubleQuant, WeightScheme::Fp4})
        out.push_back(weight_memory(config, s, blocksize));
    return out;
}

}  // namespace qls
