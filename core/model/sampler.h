// Picking the next token from logits as transformers' generate() does: the repetition penalty
// (RepetitionPenaltyLogitsProcessor), then temperature, top-k and top-p
// (TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper, in that order), then a draw
// from the softmax. Temperature 0 is greedy (do_sample=False): the penalty still applies, the
// warpers do not. A seed reproduces the draws.
//
// V vocab.
#pragma once
#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace qls {

struct SamplingOptions {
    std::int64_t max_new_tokens = 256;
    float temperature = 0.7f;         // 0: greedy
    std::int64_t top_k = 0;           // 0: off
    float top_p = 1.0f;               // (0, 1]; 1: off
    float repetition_penalty = 1.0f;  // > 0; 1: off (HF: divides positive logits of seen tokens)
    std::uint64_t seed = 0;

    // ConfigError naming the field: temperature < 0, top_k < 0, top_p outside (0, 1],
    // repetition_penalty <= 0, max_new_tokens < 1, or a non-finite value.
    void validate() const;
    bool greedy() const { return temperature == 0.0f; }
};

class Sampler {
public:
    // Validates the options.
    explicit Sampler(const SamplingOptions& options);

    // The next token for (V) logits; `history` holds every token so far (prompt and generated),
    // which the repetition penalty looks at.
    int sample(std::span<const float> logits, std::span<const int> history);

private:
    SamplingOptions m_options;
    std::mt19937_64 m_rng;
    std::vector<float> m_scores;  // (V) working copy
};

// The steps of Sampler::sample, exposed for tests. Each works in place on (V) scores;
// filtered tokens become -inf.
void apply_repetition_penalty(std::span<float> scores, std::span<const int> history, float penalty);
void apply_top_k(std::span<float> scores, std::int64_t k);
void apply_top_p(std::span<float> scores, float p);
int argmax(std::span<const float> scores);  // the first maximum, as torch.argmax

}  // namespace qls
