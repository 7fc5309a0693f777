// config.json of the Llama family as transformers reads it (configuration_llama.py,
// configuration_mistral.py, configuration_qwen2.py, modeling_rope_utils.py,
// utils/quantization_config.py BitsAndBytesConfig; formats.md §3 and §6.1).
#include "core/model/llama_config.h"

#include <fstream>
#include <iterator>

#include <nlohmann/json.hpp>

#include "core/util/error.h"

namespace qls {

namespace {

using Json = nlohmann::json;

// Field access with messages "<source>: field 'a.b': ...".
class Fields {
public:
    Fields(const Json& j, std::string_view source, std::string prefix = {})
        : m_j(j), m_source(source), m_prefix(std::move(prefix)) {}

    // Present and not null.
    bool has(const char* key) const { return m_j.contains(key) && !m_j[key].is_null(); }
    const Json& at(const char* key) const {
        QLS_CHECK(FormatError, has(key), m_source, ": missing field '", path(key), "'");
        return m_j[key];
    }
    std::string path(const char* key) const { return m_prefix.empty() ? key : m_prefix + "." + key; }

    std::int64_t integer(const char* key) const {
        const Json& v = at(key);
        QLS_CHECK(FormatError, v.is_number_integer(), m_source, ": field '", path(key), "' is ",
                  v.dump(), ", expected an integer");
        return v.get<std::int64_t>();
    }
    std::int64_t integer(const char* key, std::int64_t fallback) const { return has(key) ? integer(key) : fallback; }
    std::int64_t positive(const char* key) const {
        const std::int64_t v = integer(key);
        QLS_CHECK(FormatError, v > 0, m_source, ": field '", path(key), "' is ", v, ", expected > 0");
        return v;
    }
    double number(const char* key) const {
        const Json& v = at(key);
        QLS_CHECK(FormatError, v.is_number(), m_source, ": field '", path(key), "' is ", v.dump(),
                  ", expected a number");
        return v.get<double>();
    }
    double number(const char* key, double fallback) const { return has(key) ? number(key) : fallback; }
    bool boolean(const char* key, bool fallback) const {
        if (!has(key)) return fallback;
        QLS_CHECK(FormatError, m_j[key].is_boolean(), m_source, ": field '", path(key), "' is ",
                  m_j[key].dump(), ", expected true or false");
        return m_j[key].get<bool>();
    }
    std::string string(const char* key) const {
        const Json& v = at(key);
        QLS_CHECK(FormatError, v.is_string(), m_source, ": field '", path(key), "' is ", v.dump(),
                  ", expected a string");
        return v.get<std::string>();
    }
    std::string string(const char* key, std::string fallback) const { return has(key) ? string(key) : fallback; }
    Fields object(const char* key) const {
        QLS_CHECK(FormatError, at(key).is_object(), m_source, ": field '", path(key), "' is not an object");
        return Fields(m_j[key], m_source, path(key));
    }
    // An int, a list of ints or null.
    std::vector<std::int64_t> ids(const char* key) const {
        if (!has(key)) return {};
        const Json& v = m_j[key];
        std::vector<std::int64_t> out;
        for (const Json& x : v.is_array() ? v : Json::array({v})) {
            QLS_CHECK(FormatError, x.is_number_integer(), m_source, ": field '", path(key), "' is ",
                      v.dump(), ", expected a token id or a list of them");
            out.push_back(x.get<std::int64_t>());
        }
        return out;
    }
    std::string_view source() const { return m_source; }

private:
    const Json& m_j;
    std::string_view m_source;
    std::string m_prefix;
};

struct Family {
    const char* model_type;
    const char* architecture;
    std::int64_t default_max_position;
};
constexpr Family kFamilies[] = {
    {"llama", "LlamaForCausalLM", 2048},
    {"mistral", "MistralForCausalLM", 4096 * 32},
    {"qwen2", "Qwen2ForCausalLM", 32768},
};

const Family& find_family(const Fields& f) {
    const std::string type = f.string("model_type");
    for (const auto& fam : kFamilies) {
        if (type != fam.model_type) continue;
        if (f.has("architectures")) {
            const Json& a = f.at("architectures");
            QLS_CHECK(FormatError, a.is_array() && a.size() == 1 && a[0] == fam.architecture, f.source(),
                      ": field 'architectures' is ", a.dump(), ", expected [\"", fam.architecture, "\"]");
        }
        return fam;
    }
    throw FormatError(str_cat(f.source(), ": field 'model_type': unsupported architecture '", type,
                              "' (supported: llama, mistral, qwen2)"));
}

RopeType parse_rope_type(const std::string& name, const Fields& f, const char* key) {
    if (name == "default") return RopeType::Default;
    if (name == "linear") return RopeType::Linear;
    if (name == "llama3") return RopeType::Llama3;
    throw FormatError(str_cat(f.source(), ": field '", f.path(key), "': unsupported rope type '", name,
                              "' (supported: default, linear, llama3)"));
}

// `r` is v5 rope_parameters or v4 rope_scaling; both carry the same scaling keys.
RopeScaling parse_rope_scaling(const Fields& r) {
    RopeScaling s;
    const char* type_key = r.has("rope_type") ? "rope_type" : "type";
    s.type = parse_rope_type(r.string(type_key, "default"), r, type_key);
    if (s.type == RopeType::Default) return s;
    s.factor = r.number("factor");
    QLS_CHECK(FormatError, s.factor >= 1.0, r.source(), ": field '", r.path("factor"), "' is ", s.factor,
              ", expected >= 1");
    if (s.type == RopeType::Llama3) {
        s.low_freq_factor = r.number("low_freq_factor");
        s.high_freq_factor = r.number("high_freq_factor");
        s.original_max_position = r.positive("original_max_position_embeddings");
        QLS_CHECK(FormatError, s.high_freq_factor > s.low_freq_factor, r.source(), ": field '",
                  r.path("high_freq_factor"), "' must exceed low_freq_factor");
    }
    return s;
}

void parse_rope(const Fields& f, LlamaConfig& c) {
    c.rope_theta = f.number("rope_theta", 10000.0);
    if (f.has("rope_parameters")) {
        const Fields r = f.object("rope_parameters");
        c.rope_theta = r.number("rope_theta", c.rope_theta);
        c.rope_scaling = parse_rope_scaling(r);
        QLS_CHECK(FormatError, r.number("partial_rotary_factor", 1.0) == 1.0, f.source(), ": field '",
                  r.path("partial_rotary_factor"), "': partial rotary embeddings are not supported");
    } else if (f.has("rope_scaling")) {
        c.rope_scaling = parse_rope_scaling(f.object("rope_scaling"));
    }
    QLS_CHECK(FormatError, f.number("partial_rotary_factor", 1.0) == 1.0, f.source(),
              ": field 'partial_rotary_factor': partial rotary embeddings are not supported");
    QLS_CHECK(FormatError, c.rope_theta > 0, f.source(), ": rope_theta is ", c.rope_theta, ", expected > 0");
}

std::string parse_float_dtype(const Fields& f, const char* key, const std::string& fallback) {
    const std::string d = f.string(key, fallback);
    QLS_CHECK(FormatError, d == "float32" || d == "float16" || d == "bfloat16", f.source(), ": field '",
              f.path(key), "' is '", d, "', expected float32, float16 or bfloat16");
    return d;
}

BnbQuantConfig parse_quantization(const Fields& q) {
    const std::string method = q.string("quant_method");
    QLS_CHECK(FormatError, method == "bitsandbytes", q.source(), ": field '", q.path("quant_method"),
              "': unsupported quantization method '", method, "' (only bitsandbytes 4-bit)");
    QLS_CHECK(FormatError, !q.boolean("load_in_8bit", false), q.source(), ": field '",
              q.path("load_in_8bit"), "': 8-bit bitsandbytes checkpoints are not supported (only 4-bit)");
    QLS_CHECK(FormatError, q.boolean("load_in_4bit", false), q.source(), ": field '",
              q.path("load_in_4bit"), "' is not true: only 4-bit bitsandbytes checkpoints are supported");
    BnbQuantConfig b;
    const std::string type = q.string("bnb_4bit_quant_type", "fp4");  // BitsAndBytesConfig's default
    QLS_CHECK(FormatError, type == "nf4" || type == "fp4", q.source(), ": field '",
              q.path("bnb_4bit_quant_type"), "' is '", type, "', expected nf4 or fp4");
    b.quant_type = type == "nf4" ? QuantType::NF4 : QuantType::FP4;
    b.double_quant = q.boolean("bnb_4bit_use_double_quant", false);
    b.compute_dtype = parse_float_dtype(q, "bnb_4bit_compute_dtype", "float32");
    b.quant_storage = q.string("bnb_4bit_quant_storage", "uint8");  // absent in older checkpoints
    QLS_CHECK(FormatError, b.quant_storage == "uint8", q.source(), ": field '",
              q.path("bnb_4bit_quant_storage"), "' is '", b.quant_storage, "': only uint8 storage is supported");
    return b;
}

void check_unsupported_features(const Fields& f, const LlamaConfig& c) {
    const std::string act = f.string("hidden_act", "silu");
    QLS_CHECK(FormatError, act == "silu" || act == "swish", f.source(), ": field 'hidden_act': unsupported activation '",
              act, "' (only silu)");
    QLS_CHECK(FormatError, !f.boolean("mlp_bias", false), f.source(), ": field 'mlp_bias': MLP biases are not supported");
    // Llama's attention_bias also puts a bias on o_proj, which Qwen2 does not have.
    QLS_CHECK(FormatError, c.model_type == "qwen2" || !f.boolean("attention_bias", false), f.source(),
              ": field 'attention_bias': attention biases are not supported for ", c.model_type);
    QLS_CHECK(FormatError, !f.boolean("use_sliding_window", false), f.source(),
              ": field 'use_sliding_window': Qwen2 sliding-window layers are not supported");
}

void parse_sizes(const Fields& f, LlamaConfig& c) {
    c.hidden_size = f.positive("hidden_size");
    c.intermediate_size = f.positive("intermediate_size");
    c.num_layers = f.positive("num_hidden_layers");
    c.num_heads = f.positive("num_attention_heads");
    c.vocab_size = f.positive("vocab_size");
    c.num_kv_heads = f.has("num_key_value_heads") ? f.positive("num_key_value_heads") : c.num_heads;
    QLS_CHECK(FormatError, c.num_heads % c.num_kv_heads == 0, f.source(), ": field 'num_key_value_heads' (",
              c.num_kv_heads, ") does not divide num_attention_heads (", c.num_heads, ")");
    if (f.has("head_dim")) {
        c.head_dim = f.positive("head_dim");
    } else {
        QLS_CHECK(FormatError, c.hidden_size % c.num_heads == 0, f.source(), ": field 'num_attention_heads' (",
                  c.num_heads, ") does not divide hidden_size (", c.hidden_size, ") and head_dim is absent");
        c.head_dim = c.hidden_size / c.num_heads;
    }
    QLS_CHECK(FormatError, c.head_dim % 2 == 0, f.source(), ": head_dim ", c.head_dim,
              " is odd; rotary embeddings need an even head_dim");
}

}  // namespace

LlamaConfig parse_llama_config(const nlohmann::json& j, std::string_view source) {
    QLS_CHECK(FormatError, j.is_object(), source, ": expected a JSON object");
    const Fields f(j, source);
    LlamaConfig c;
    const Family& fam = find_family(f);
    c.model_type = fam.model_type;
    c.architecture = fam.architecture;
    check_unsupported_features(f, c);
    parse_sizes(f, c);
    c.max_position_embeddings = f.integer("max_position_embeddings", fam.default_max_position);
    c.rms_norm_eps = f.number("rms_norm_eps", 1e-6);
    QLS_CHECK(FormatError, c.rms_norm_eps > 0, source, ": field 'rms_norm_eps' is ", c.rms_norm_eps, ", expected > 0");
    parse_rope(f, c);
    c.tie_word_embeddings = f.boolean("tie_word_embeddings", false);
    c.qkv_bias = c.model_type == "qwen2";
    c.bos_token_ids = f.ids("bos_token_id");
    c.eos_token_ids = f.ids("eos_token_id");
    if (f.has("pad_token_id")) c.pad_token_id = f.integer("pad_token_id");
    // v5 writes "dtype", v4 "torch_dtype".
    c.dtype = parse_float_dtype(f, f.has("dtype") ? "dtype" : "torch_dtype", "float32");
    if (c.model_type == "mistral") c.sliding_window = f.integer("sliding_window", 0);
    if (f.has("quantization_config")) c.quantization = parse_quantization(f.object("quantization_config"));
    return c;
}

LlamaConfig load_llama_config(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    QLS_CHECK(IoError, in.is_open(), "cannot open '", path.string(), "'");
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    Json j;
    try {
        j = Json::parse(text);
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(str_cat(path.string(), ": not valid JSON: ", e.what()));
    }
    return parse_llama_config(j, path.string());
}

std::int64_t parameter_count(const LlamaConfig& c) {
    const std::int64_t h = c.hidden_size, q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim;
    std::int64_t layer = h * q + 2 * h * kv + q * h  // q, k, v, o
                         + 3 * h * c.intermediate_size  // gate, up, down
                         + 2 * h;                        // two norms
    if (c.qkv_bias) layer += q + 2 * kv;
    const std::int64_t embeddings = c.vocab_size * h * (c.tie_word_embeddings ? 1 : 2);
    return embeddings + c.num_layers * layer + h;
}

}  // namespace qls
