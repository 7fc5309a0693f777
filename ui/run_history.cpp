#include "ui/run_history.h"

#include <QDir>
#include <QFileInfo>
#include <QSaveFile>
#include <QTextStream>

#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "core/train/run_folder.h"
#include "core/train/run_logs.h"
#include "core/util/error.h"
#include "ui/training_controller.h"

namespace qls::ui {

namespace {

std::optional<TrainerState> parseState(const std::string& name) {
    for (int s = 0; s <= int(TrainerState::Failed); ++s)
        if (trainer_state_name(TrainerState(s)) == name) return TrainerState(s);
    return std::nullopt;
}

void readEvent(const nlohmann::json& j, RunHistory& run) {
    const std::string type = j.at("type").get<std::string>();
    if (type == "paging") {
        PagingEvent p;
        p.time_s = j.value("time_s", 0.0);
        p.step = j.value("step", std::int64_t{0});
        p.direction = j.value("direction", "") == "to_host" ? PagingEvent::Direction::ToHost
                                                            : PagingEvent::Direction::ToDevice;
        p.bytes = j.value("bytes", std::int64_t{0});
        p.pages = j.value("pages", std::int64_t{0});
        p.layer = j.value("layer", std::int64_t{-1});
        p.reason = j.value("reason", "");
        run.paging.push_back(std::move(p));
    } else if (type == "memory") {
        run.memory.push_back(memory_sample_from_json(j));
    } else if (type == "device") {
        run.backend = j.value("backend", "");
    } else if (type == "log") {
        run.log << logText(LogLine{LogLine::Level(j.value("level", 0)), j.value("text", "")});
    } else if (type == "state") {
        const auto state = parseState(j.value("state", ""));
        if (!state) return;
        run.lastState = *state;
        run.log << stateLogText(*state, QString::fromStdString(j.value("message", "")));
    } else if (type == "error") {
        run.log << QObject::tr("error: %1").arg(describeError(
                       ErrorInfo{j.value("what", ""), j.value("advice", ""), j.value("resumable", false)}));
    }
}

}  // namespace

QString logText(const LogLine& line) {
    const QString text = QString::fromStdString(line.text);
    switch (line.level) {
    case LogLine::Level::Warning: return QObject::tr("warning: %1").arg(text);
    case LogLine::Level::Error: return QObject::tr("error: %1").arg(text);
    case LogLine::Level::Info: break;
    }
    return text;
}

QString stateLogText(TrainerState state, const QString& message) {
    return message.isEmpty() ? QStringLiteral("[%1]").arg(stateText(state))
                             : QStringLiteral("[%1] %2").arg(stateText(state), message);
}

RunHistory readRunHistory(const QString& dir) {
    const std::filesystem::path path = dir.toStdString();
    RunFolder::read_run_json(path);  // refuses a folder that is no run
    RunHistory run;
    run.dir = QDir(dir).absolutePath();
    run.name = QFileInfo(run.dir).fileName();
    for_each_json_line(path / "metrics.jsonl", [&](const nlohmann::json& j) {
        const std::string type = j.value("type", "");
        if (type == "step") run.steps.push_back(step_metrics_from_json(j));
        else if (type == "eval") run.evals.push_back(eval_result_from_json(j));
    });
    for_each_json_line(path / "events.jsonl", [&](const nlohmann::json& j) { readEvent(j, run); });
    std::error_code ec;
    run.hasCheckpoint = !std::filesystem::is_empty(path / "checkpoints", ec) && !ec;
    return run;
}

QString writeMetricsCsv(const RunHistory& run, const QString& path) {
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Text)) return file.errorString();
    std::map<std::int64_t, double> valid;
    for (const EvalResult& r : run.evals) valid[r.step] = r.loss;
    QTextStream out(&file);
    out << "step,epoch,loss,lr,grad_norm,tokens,trained_tokens,tokens_per_s,elapsed_s,valid_loss\n";
    for (const StepMetrics& s : run.steps) {
        const auto v = valid.find(s.step);
        out << s.step << ',' << s.epoch << ',' << QString::number(s.loss, 'g', 9) << ','
            << QString::number(s.lr, 'g', 9) << ',' << QString::number(s.grad_norm, 'g', 9) << ',' << s.tokens << ','
            << s.trained_tokens << ',' << s.tokens_per_s << ',' << s.elapsed_s << ','
            << (v == valid.end() ? QString() : QString::number(v->second, 'g', 9)) << '\n';
    }
    out.flush();
    if (!file.commit()) return file.errorString();
    return {};
}

}  // namespace qls::ui
