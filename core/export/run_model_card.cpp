#include "core/export/run_model_card.h"

#include <string>

#include <nlohmann/json.hpp>

#include "core/model/gguf_model_loader.h"
#include "core/quant/quantized_tensor.h"
#include "core/train/run_logs.h"
#include "core/util/error.h"

namespace qls {

namespace fs = std::filesystem;

namespace {

bool is_run(const fs::path& dir) {
    std::error_code ec;
    return fs::is_regular_file(dir / "run.json", ec);
}

// "step-120" -> 120.
std::optional<std::int64_t> checkpoint_step(const fs::path& dir) {
    const std::string name = dir.filename().string();
    if (!name.starts_with("step-") || name.size() == 5 || dir.parent_path().filename() != "checkpoints") return {};
    std::int64_t step = 0;
    for (char c : name.substr(5)) {
        if (c < '0' || c > '9') return {};
        step = step * 10 + (c - '0');
    }
    return step;
}

// Fills steps and losses from metrics.jsonl (run_logs.h's reader: a line cut short by a crash
// ends the file): step lines carry the training loss, eval lines the validation loss.
void read_losses(const fs::path& metrics, std::optional<std::int64_t> up_to, ModelCard& card) {
    for_each_json_line(metrics, [&](const nlohmann::json& j) {
        const std::string type = j.at("type").get<std::string>();
        if (type != "step" && type != "eval") return;
        const std::int64_t step = j.at("step").get<std::int64_t>();
        if (up_to && step > *up_to) return;
        const double loss = j.at("loss").get<double>();
        if (type == "step" && step >= card.steps) {
            card.steps = step;
            card.train_loss = loss;
        } else if (type == "eval" && (!card.valid_loss || loss < *card.valid_loss)) {
            card.valid_loss = loss;
        }
    });
}

// The GGUF blocks the run trained on, from the base file's header (a .gguf base with
// base.gguf_blocks); none for other bases.
KeptGgufBlocks kept_gguf_blocks_of(const TrainConfig& run) {
    if (!run.base.gguf_blocks || run.model.extension() != ".gguf") return {};
    try {
        return gguf_linear_blocks(GgufFile(run.model));
    } catch (const std::exception&) {  // moved or unreadable since: the card is still written
        return {"stored", false};
    }
}

}  // namespace

std::optional<RunAdapter> run_adapter_of(const fs::path& source) {
    fs::path dir = fs::absolute(source).lexically_normal();
    if (!dir.has_filename()) dir = dir.parent_path();  // "run/" -> "run"
    if (dir.filename() == "adapter") dir = dir.parent_path();
    if (is_run(dir)) return RunAdapter{dir, std::nullopt};
    if (const auto step = checkpoint_step(dir); step && is_run(dir.parent_path().parent_path()))
        return RunAdapter{dir.parent_path().parent_path(), step};
    return std::nullopt;
}

ModelCard run_model_card(const TrainConfig& run, const RunAdapter& at) {
    ModelCard card;
    card.dataset = run.data.path.filename().string();
    card.learning_rate = run.optim.adamw.lr;
    card.batch_size = run.micro_batch * run.grad_accum;
    card.seq_len = static_cast<std::int64_t>(run.data.max_seq_len);
    card.quantization = base_quantization_label(run.base, kept_gguf_blocks_of(run));
    read_losses(at.run_dir / "metrics.jsonl", at.step, card);
    return card;
}

}  // namespace qls
