#include "core/train/step_flops.h"

namespace qls {

StepFlops step_flops(const LlamaConfig& c, std::int64_t micro_batch, std::int64_t seq_len) {
    const double hidden = static_cast<double>(c.hidden_size);
    const double q = static_cast<double>(c.num_heads * c.head_dim);
    const double kv = static_cast<double>(c.num_kv_heads * c.head_dim);
    const double inter = static_cast<double>(c.intermediate_size);
    const double layers = static_cast<double>(c.num_layers);
    const double t = static_cast<double>(seq_len), tokens = static_cast<double>(micro_batch) * t;
    StepFlops f;
    f.layer_linear_params = layers * (hidden * q + 2 * hidden * kv + q * hidden + 3 * hidden * inter);
    f.linear_params = f.layer_linear_params + hidden * static_cast<double>(c.vocab_size);
    f.attention_forward = static_cast<double>(micro_batch) * layers * 2 * t * t * q;
    f.useful = 4 * f.linear_params * tokens + 3 * f.attention_forward;
    f.hardware = f.useful + 2 * f.layer_linear_params * tokens + f.attention_forward;
    return f;
}

}  // namespace qls
