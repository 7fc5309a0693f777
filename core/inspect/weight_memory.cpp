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

WeightMemory weight_memory(const LlamaConfig& config, WeightScheme scheme, int blocksize) {
    WeightMemory m;
    m.scheme = scheme;
    for (const auto& t : llama_expected_tensors(config)) {
        const std::int64_t n = numel(t.shape);
        if (!t.linear) {
            m.other_params += n;
            m.other_bytes += static_cast<std::uint64_t>(n) * 2;
            continue;
        }
        m.linear_params += n;
        if (scheme == WeightScheme::Bf16) {
            m.linear_bytes += static_cast<std::uint64_t>(n) * 2;
            continue;
        }
        const QuantStorage s = quant_storage(n, blocksize, scheme == WeightScheme::Nf4DoubleQuant);
        m.linear_bytes += s.total_bytes();
        m.linear_table_bytes += s.table_bytes;
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
