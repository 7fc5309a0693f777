// The table of qlora subcommands and the small argument parser they share.
#pragma once
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace qls::cli {

// Bad command-line usage: printed with the command's usage text, exit code 2.
class UsageError : public std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Command {
    const char* name;
    const char* summary;
    const char* usage;
    int (*run)(const std::vector<std::string>& args);
};

const std::vector<Command>& commands();

// The value of --name as a number; UsageError naming the option when it is not one.
template <typename T>
T parse_number(const std::string& name, const std::string& text) {
    std::istringstream in(text);
    T v{};
    in >> v;
    if (in.fail() || !in.eof()) throw UsageError("--" + name + ": not a number: '" + text + "'");
    return v;
}

// The subcommands, one per cli_<name>.cpp.
int run_inspect(const std::vector<std::string>& args);
extern const char* const kInspectUsage;
int run_quantize(const std::vector<std::string>& args);
extern const char* const kQuantizeUsage;
int run_tokenize(const std::vector<std::string>& args);
extern const char* const kTokenizeUsage;
int run_bench(const std::vector<std::string>& args);
extern const char* const kBenchUsage;
int run_bench_quant(const std::vector<std::string>& args);
int run_bench_tokenize(const std::vector<std::string>& args);
int run_bench_train(const std::vector<std::string>& args);
int run_train(const std::vector<std::string>& args);
extern const char* const kTrainUsage;
int run_estimate(const std::vector<std::string>& args);
extern const char* const kEstimateUsage;
int run_eval(const std::vector<std::string>& args);
extern const char* const kEvalUsage;
int run_export(const std::vector<std::string>& args);
extern const char* const kExportUsage;
int run_generate(const std::vector<std::string>& args);
extern const char* const kGenerateUsage;
int run_compare(const std::vector<std::string>& args);
extern const char* const kCompareUsage;
int run_download(const std::vector<std::string>& args);
extern const char* const kDownloadUsage;
int run_push(const std::vector<std::string>& args);
extern const char* const kPushUsage;
int run_doctor(const std::vector<std::string>& args);
extern const char* const kDoctorUsage;

// Options of the form --name VALUE or --name=VALUE, flags --name, and positional arguments.
class Args {
public:
    Args(const std::vector<std::string>& args, const std::vector<std::string>& flags,
         const std::vector<std::string>& options);
    bool flag(const std::string& name) const;
    std::optional<std::string> option(const std::string& name) const;
    std::vector<std::string> options(const std::string& name) const;  // every occurrence, in order
    const std::vector<std::string>& positional() const { return m_positional; }
    // Exactly n positional arguments, else UsageError.
    void expect_positional(std::size_t n) const;

private:
    std::vector<std::string> m_flags_set;
    std::vector<std::pair<std::string, std::string>> m_options;
    std::vector<std::string> m_positional;
};

}  // namespace qls::cli
