// qlora train --model M --data F --out RUN_DIR [hyperparameters] | --config run.json | --resume RUN_DIR
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "app/cli_commands.h"
#include "app/cli_train_options.h"
#include "core/train/trainer.h"

namespace qls::cli {

namespace {

// SIGINT, SIGTERM (systemd stop, kill) and SIGHUP (a closed terminal, a logout) all end the
// run the same way: the step finishes, a checkpoint is saved, the exit status says which
// signal (128 + its number, as a shell reports a process it killed).
volatile std::sig_atomic_t g_signals = 0;
volatile std::sig_atomic_t g_first_signal = 0;
extern "C" void on_signal(int sig) {
    if (g_signals == 0) g_first_signal = sig;
    g_signals = g_signals + 1;
}

void install_signal_handlers(void (*handler)(int)) {
    struct sigaction sa {};
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaction(sig, &sa, nullptr);
}

std::string clock_text(double s) {
    char buf[32];
    const auto t = static_cast<long long>(s);
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", t / 3600, t / 60 % 60, t % 60);
    return buf;
}

// Prints events; returns the exit code once the run has ended, -1 while it goes on.
int show(const TrainEvent& e, bool tty) {
    if (const auto* s = std::get_if<StepMetrics>(&e)) {
        std::fprintf(tty ? stderr : stdout, "%sstep %lld/%lld  epoch %.2f  loss %.4f  lr %.2e  |g| %.3f  %.0f tok/s  ETA %s%s",
                     tty ? "\r\033[K" : "", (long long)s->step, (long long)s->total_steps, s->epoch, s->loss, s->lr,
                     s->grad_norm, s->tokens_per_s, clock_text(s->eta_s).c_str(), tty ? "" : "\n");
        std::fflush(tty ? stderr : stdout);
    } else if (const auto* p = std::get_if<LoadProgress>(&e)) {
        // A terminal sees every layer on one line; a log gets a line a quarter of the way.
        const auto quarter = [&](std::int64_t done) { return p->layers > 0 ? 4 * done / p->layers : 4; };
        if (tty || p->layers_done == 0 || quarter(p->layers_done) != quarter(p->layers_done - 1)) {
            std::fprintf(tty ? stderr : stdout, "%sbase weights: %lld of %lld layers on the device%s",
                         tty ? "\r\033[K" : "", (long long)p->layers_done, (long long)p->layers,
                         tty ? "" : "\n");
            std::fflush(tty ? stderr : stdout);
        }
    } else if (const auto* r = std::get_if<EvalResult>(&e)) {
        std::printf("%sstep %lld  validation loss %.4f  perplexity %.2f  (%lld tokens)%s\n", tty ? "\r\033[K" : "",
                    (long long)r->step, r->loss, r->perplexity, (long long)r->tokens, r->best ? "  best" : "");
    } else if (const auto* l = std::get_if<LogLine>(&e)) {
        std::fprintf(l->level == LogLine::Level::Info ? stdout : stderr, "%s%s\n", tty ? "\r\033[K" : "", l->text.c_str());
    } else if (const auto* d = std::get_if<RunDevice>(&e)) {
        std::printf("%sdevice: %s, %s compute (%s)\n", tty ? "\r\033[K" : "", d->device.c_str(),
                    d->compute_dtype.c_str(), d->reason.c_str());
    } else if (const auto* err = std::get_if<ErrorInfo>(&e)) {
        std::fprintf(stderr, "%serror: %s\n", tty ? "\r\033[K" : "", err->what.c_str());
        if (!err->advice.empty()) std::fprintf(stderr, "  what to do: %s\n", err->advice.c_str());
    } else if (const auto* st = std::get_if<StateChange>(&e)) {
        switch (st->state) {
            case TrainerState::Finished:
                std::printf("%s%s\n", tty ? "\r\033[K" : "", st->message.c_str());
                return 0;
            case TrainerState::Stopped:
            case TrainerState::Cancelled:
                // Only a signal stops or cancels a CLI run: it is interrupted, not finished.
                std::printf("%s%s\n", tty ? "\r\033[K" : "", st->message.c_str());
                return 128 + (g_first_signal ? int(g_first_signal) : SIGINT);
            case TrainerState::Failed: return 1;
            case TrainerState::Saving:
            case TrainerState::Loading: std::printf("%s%s\n", tty ? "\r\033[K" : "", st->message.c_str()); break;
            default: break;
        }
    }
    return -1;
}

}  // namespace

const char* const kTrainUsage =
    "usage: qlora train --model MODEL --data FILE --out RUN_DIR [options]\n"
    "       qlora train --config run.json [--out RUN_DIR] [options]\n"
    "       qlora train --resume RUN_DIR\n"
    "  --out RUN_DIR    the new run's folder (run.json, metrics.jsonl, events.jsonl, checkpoints/, adapter/)\n"
    "  --config FILE    settings from a JSON file (the \"config\" of a run.json, or the run.json itself);\n"
    "                   options on the command line override it\n"
    "  --resume RUN_DIR continue a run from its latest (intact) checkpoint, with the same losses; it may\n"
    "                   change --lr --schedule --warmup-steps --warmup-ratio --max-grad-norm\n"
    "                   --max-steps --epochs\n"
    "                   --eval-every --save-every --keep-checkpoints --early-stop-patience\n"
    "                   --early-stop-min-delta --optimizer-budget-mib --page-kib --device-limit-mib,\n"
    "                   and --model for a moved model (the same bytes); run.json records the change\n"
    "  Ctrl-C, SIGTERM or SIGHUP finish the step, save a checkpoint and exit with 130, 143 or 129;\n"
    "  a second says it is still saving, a third quits at once (the last checkpoint stays).\n"
    QLS_TRAIN_OPTIONS_HELP;

int run_train(const std::vector<std::string>& raw) {
    std::vector<std::string> options = train_options();
    options.insert(options.end(), {"out", "config", "resume"});
    const Args args(raw, train_flags(), options);
    args.expect_positional(0);
    TrainConfig config;
    bool resume = false;
    Trainer::ResumeEdit edit;
    if (auto dir = args.option("resume")) {
        // A resumed run keeps its run.json except for what a continuation may change; the
        // Trainer refuses the rest by name (train_config.h resume_changes).
        for (const char* o : {"out", "config"})
            if (args.option(o)) throw UsageError(str_cat("--resume continues the run in its folder: --", o, " is not taken"));
        config.run_dir = *dir;
        resume = true;
        edit = [&args](TrainConfig& c) { apply_train_options(args, c); };
    } else {
        if (auto file = args.option("config")) {
            std::ifstream in(*file);
            if (!in) throw UsageError("cannot read --config " + *file);
            nlohmann::json j;
            try {
                in >> j;
            } catch (const nlohmann::json::exception& e) {
                throw ConfigError(*file + ": " + e.what());
            }
            config = train_config_from_json(j.contains("config") ? j.at("config") : j);
        }
        apply_train_options(args, config);
        if (auto out = args.option("out")) config.run_dir = *out;
        if (config.model.empty() || config.data.path.empty() || config.run_dir.empty())
            throw UsageError("--model, --data and --out are required (or --config / --resume)");
    }
    Trainer trainer(config, resume, edit);
    install_signal_handlers(on_signal);
    const bool tty = isatty(fileno(stderr));
    trainer.start();
    int code = -1, seen_interrupts = 0;
    std::vector<TrainEvent> events;
    while (code < 0) {
        events.clear();
        trainer.events().wait_and_drain(events, std::chrono::milliseconds(200));
        for (const TrainEvent& e : events) {
            const int c = show(e, tty);
            if (c >= 0) code = c;
        }
        // Signals that came together (two Ctrl-C within a poll) count one by one.
        if (const int now = g_signals; now > seen_interrupts) {
            const int sig = g_first_signal;
            if (seen_interrupts == 0) {
                std::fprintf(stderr, "\n%s: finishing the step and saving a checkpoint\n", strsignal(sig));
                trainer.stop();
            }
            if (now >= 3) {
                // Checkpoints are written atomically: quitting now loses only the one being saved.
                std::fprintf(stderr, "quitting without saving\n");
                std::fflush(nullptr);
                std::_Exit(128 + sig);
            }
            if (now == 2)
                std::fprintf(stderr, "still saving the checkpoint; signal once more to quit without it "
                                     "(the last checkpoint stays)\n");
            seen_interrupts = now;
        }
        if (!trainer.running() && events.empty() && trainer.state() != TrainerState::Idle && code < 0) code = 1;
    }
    trainer.wait();
    install_signal_handlers(SIG_DFL);
    if (code == 0) std::printf("adapter: %s\n", (trainer.config().run_dir / "adapter").c_str());
    return code;
}

}  // namespace qls::cli
