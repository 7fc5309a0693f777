#include "core/train/checkpoint.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/export/peft_adapter.h"
#include "core/io/safetensors_reader.h"
#include "core/io/safetensors_writer.h"
#include "core/train/run_folder.h"
#include "core/util/atomic_file.h"

namespace qls {

nlohmann::json TrainerProgress::to_json() const {
    nlohmann::json j = {{"step", step},
                        {"data", data.to_json()},
                        {"best_step", best_step},
                        {"evals_without_improvement", evals_without_improvement},
                        {"elapsed_s", elapsed_s},
                        {"tokens_seen", tokens_seen},
                        {"last_train_loss", last_train_loss},
                        {"loss_scale", loss_scale.to_json()}};
    j["best_valid_loss"] = best_valid_loss ? nlohmann::json(*best_valid_loss) : nlohmann::json(nullptr);
    return j;
}

TrainerProgress TrainerProgress::from_json(const nlohmann::json& j) {
    try {
        TrainerProgress p;
        p.step = j.at("step").get<std::int64_t>();
        p.data = SamplerPosition::from_json(j.at("data"));
        if (!j.at("best_valid_loss").is_null()) p.best_valid_loss = j.at("best_valid_loss").get<double>();
        p.best_step = j.at("best_step").get<std::int64_t>();
        p.evals_without_improvement = j.at("evals_without_improvement").get<std::int64_t>();
        p.elapsed_s = j.at("elapsed_s").get<double>();
        p.tokens_seen = j.at("tokens_seen").get<std::int64_t>();
        p.last_train_loss = j.at("last_train_loss").get<double>();
        // Checkpoints written before fp16 compute have none: scale 1.
        if (j.contains("loss_scale")) p.loss_scale = LossScaleState::from_json(j.at("loss_scale"));
        QLS_CHECK(FormatError, p.step >= 0 && p.best_step >= 0 && p.best_step <= p.step && p.tokens_seen >= 0 &&
                                   p.evals_without_improvement >= 0 && p.elapsed_s >= 0 && std::isfinite(p.elapsed_s),
                  "trainer_state.json: impossible progress (step ", p.step, ", best_step ", p.best_step,
                  ", tokens_seen ", p.tokens_seen, ", evals_without_improvement ", p.evals_without_improvement,
                  ", elapsed_s ", p.elapsed_s, ")");
        return p;
    } catch (const nlohmann::json::exception& e) {
        throw FormatError(str_cat("trainer_state.json: ", e.what()));
    }
}

namespace {

// Every file of a checkpoint, relative to its folder, as checksums.json lists them.
const char* const kCheckpointFiles[] = {"adapter/adapter_config.json", "adapter/adapter_model.safetensors",
                                        "optimizer.safetensors", "trainer_state.json"};

// A flipped bit in the adapter or the optimizer state would resume with wrong values and no
// word: the checksums catch it, and the resume falls back to an older checkpoint.
void verify_checksums(const std::filesystem::path& dir) {
    const std::filesystem::path list = dir / "checksums.json";
    std::ifstream in(list);
    QLS_CHECK(FormatError, in.good(), "checksums.json is missing");
    const auto j = nlohmann::json::parse(in, nullptr, false);
    QLS_CHECK(FormatError, j.is_object(), "checksums.json is not valid JSON");
    for (const char* file : kCheckpointFiles) {
        QLS_CHECK(FormatError, j.contains(file), "checksums.json does not list ", file);
        QLS_CHECK(FormatError, std::filesystem::is_regular_file(dir / file), file, " is missing");
        const nlohmann::json got = fingerprint(dir / file);
        QLS_CHECK(FormatError, got["bytes"] == j[file].value("bytes", nlohmann::json()) &&
                                   got["fnv1a"] == j[file].value("fnv1a", nlohmann::json()),
                  file, " does not match its checksum (", got["bytes"], " bytes, fnv1a ", got["fnv1a"].get<std::string>(),
                  "; saved as ", j[file].dump(), "): the file was damaged after it was written");
    }
}

}  // namespace

std::filesystem::path checkpoint_dir(const std::filesystem::path& run_dir, std::int64_t step) {
    return run_dir / "checkpoints" / str_cat("step-", step);
}

void save_checkpoint(const std::filesystem::path& dir, const Checkpoint& c) {
    std::filesystem::create_directories(dir.parent_path());
    AtomicDirWriter out(dir);
    ModelCard card;
    card.steps = c.progress.step;
    card.train_loss = c.progress.last_train_loss;
    card.valid_loss = c.progress.best_valid_loss;
    write_peft_adapter(c.adapter, out.dir() / "adapter", card);
    write_safetensors(out.dir() / "optimizer.safetensors", named_views(c.optimizer), {{"format", "qlora-studio"}});
    write_file_atomic(out.dir() / "trainer_state.json", c.progress.to_json().dump(2));
    nlohmann::json sums = nlohmann::json::object();
    for (const char* file : kCheckpointFiles) sums[file] = fingerprint(out.dir() / file);
    write_file_atomic(out.dir() / "checksums.json", sums.dump(2));
    out.commit();
}

Checkpoint load_checkpoint(const std::filesystem::path& dir) {
    Checkpoint c;
    try {
        verify_checksums(dir);
        c.adapter = read_peft_adapter(dir / "adapter");
        const SafetensorsFile opt(dir / "optimizer.safetensors");
        for (const NamedTensor& t : opt.tensors()) {
            OwnedTensor o{t.name, t.view.dtype, t.view.shape, {}};
            o.data.assign(t.view.data.begin(), t.view.data.end());
            c.optimizer.push_back(std::move(o));
        }
        std::ifstream in(dir / "trainer_state.json");
        QLS_CHECK(FormatError, in.good(), "missing trainer_state.json");
        nlohmann::json j;
        try {
            in >> j;
        } catch (const nlohmann::json::exception& e) {
            throw FormatError(str_cat("trainer_state.json: ", e.what()));
        }
        c.progress = TrainerProgress::from_json(j);
    } catch (Error& e) {
        e.add_context(str_cat("checkpoint ", dir.string()));
        throw;
    }
    return c;
}

std::vector<std::int64_t> list_checkpoints(const std::filesystem::path& run_dir) {
    std::vector<std::int64_t> steps;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(run_dir / "checkpoints", ec)) {
        const std::string name = entry.path().filename().string();
        if (!entry.is_directory() || !name.starts_with("step-")) continue;
        const std::string digits = name.substr(5);
        if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit)) continue;
        if (!std::filesystem::exists(entry.path() / "trainer_state.json")) continue;
        steps.push_back(std::stoll(digits));
    }
    std::sort(steps.begin(), steps.end());
    return steps;
}

}  // namespace qls
