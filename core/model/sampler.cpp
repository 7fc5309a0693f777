#include "core/model/sampler.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "core/util/error.h"

namespace qls {

namespace {

constexpr float kFiltered = -std::numeric_limits<float>::infinity();

// A uniform double in [0, 1) from the top 53 bits: the same on every standard library, unlike
// std::uniform_real_distribution.
double uniform01(std::mt19937_64& rng) {
    return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

// A draw from softmax(scores); filtered (-inf) tokens have probability 0.
int draw(std::span<const float> scores, std::mt19937_64& rng) {
    const float top = *std::max_element(scores.begin(), scores.end());
    double total = 0;
    for (float s : scores) total += std::exp(static_cast<double>(s) - top);
    const double target = uniform01(rng) * total;
    double sum = 0;
    int last_possible = 0;
    for (std::size_t i = 0; i < scores.size(); ++i) {
        if (scores[i] == kFiltered) continue;
        sum += std::exp(static_cast<double>(scores[i]) - top);
        last_possible = static_cast<int>(i);
        if (sum > target) return last_possible;
    }
    return last_possible;  // rounding left target at the very top
}

}  // namespace

void SamplingOptions::validate() const {
    QLS_CHECK(ConfigError, std::isfinite(temperature) && temperature >= 0.0f,
              "sampling option 'temperature' must be >= 0, got ", temperature);
    QLS_CHECK(ConfigError, std::isfinite(top_p) && top_p > 0.0f && top_p <= 1.0f,
              "sampling option 'top_p' must be in (0, 1], got ", top_p);
    QLS_CHECK(ConfigError, top_k >= 0, "sampling option 'top_k' must be >= 0 (0: off), got ", top_k);
    QLS_CHECK(ConfigError, std::isfinite(repetition_penalty) && repetition_penalty > 0.0f,
              "sampling option 'repetition_penalty' must be > 0 (1: off), got ", repetition_penalty);
    QLS_CHECK(ConfigError, max_new_tokens >= 1, "sampling option 'max_new_tokens' must be >= 1, got ",
              max_new_tokens);
}

Sampler::Sampler(const SamplingOptions& options) : m_options(options), m_rng(options.seed) {
    options.validate();
}

int Sampler::sample(std::span<const float> logits, std::span<const int> history) {
    QLS_ASSERT(!logits.empty(), "sampling from empty logits");
    // NaN logits come from weights that are not usable (a diverged adapter, a broken file):
    // an error, never an arbitrary token or a silently empty reply.
    QLS_CHECK(FormatError, std::none_of(logits.begin(), logits.end(), [](float x) { return std::isnan(x) || x == INFINITY; }),
              "the model produced NaN/Inf logits: its weights (or the adapter's) are not usable");
    m_scores.assign(logits.begin(), logits.end());
    const std::span<float> scores(m_scores);
    if (m_options.repetition_penalty != 1.0f)
        apply_repetition_penalty(scores, history, m_options.repetition_penalty);
    if (m_options.greedy()) return argmax(scores);
    if (m_options.temperature != 1.0f)
        for (float& s : scores) s /= m_options.temperature;
    if (m_options.top_k > 0) apply_top_k(scores, m_options.top_k);
    if (m_options.top_p < 1.0f) apply_top_p(scores, m_options.top_p);
    return draw(scores, m_rng);
}

void apply_repetition_penalty(std::span<float> scores, std::span<const int> history, float penalty) {
    // Each distinct token once, however often it occurred (HF gathers, then scatters).
    std::vector<bool> seen(scores.size(), false);
    for (int id : history) {
        const auto i = static_cast<std::size_t>(id);
        if (id < 0 || i >= scores.size() || seen[i]) continue;
        seen[i] = true;
        scores[i] = scores[i] < 0 ? scores[i] * penalty : scores[i] / penalty;
    }
}

void apply_top_k(std::span<float> scores, std::int64_t k) {
    if (k >= static_cast<std::int64_t>(scores.size())) return;
    std::vector<float> sorted(scores.begin(), scores.end());
    std::nth_element(sorted.begin(), sorted.begin() + (k - 1), sorted.end(), std::greater<>());
    const float kth = sorted[static_cast<std::size_t>(k - 1)];
    // Ties with the k-th score survive, as HF removes only scores below it.
    for (float& s : scores)
        if (s < kth) s = kFiltered;
}

void apply_top_p(std::span<float> scores, float p) {
    std::vector<int> order(scores.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[a] < scores[b]; });
    const float top = scores[order.back()];
    double total = 0;
    for (float s : scores) total += std::exp(static_cast<double>(s) - top);
    // Ascending, as HF: drop tokens while the probability mass up to and including them stays
    // within 1 - p; the most likely token always survives.
    const double drop_mass = (1.0 - static_cast<double>(p)) * total;
    double cumulative = 0;
    for (std::size_t i = 0; i + 1 < order.size(); ++i) {
        float& s = scores[static_cast<std::size_t>(order[i])];
        cumulative += std::exp(static_cast<double>(s) - top);
        if (cumulative > drop_mass) break;
        s = kFiltered;
    }
}

int argmax(std::span<const float> scores) {
    return static_cast<int>(std::max_element(scores.begin(), scores.end()) - scores.begin());
}

}  // namespace qls
