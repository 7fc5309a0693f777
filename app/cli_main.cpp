// qlora: the headless front end. Each subcommand lives in cli_<name>.cpp and only parses its
// arguments, calls the core and prints; errors become a message on stderr and exit code 1.
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "app/cli_commands.h"
#ifdef QLS_HAVE_CUDA
#include "kernels/cuda_backend.h"
#endif

namespace {

void print_usage(std::FILE* out) {
    std::fprintf(out,
                 "usage: qlora <command> [options]\n\n"
                 "commands:\n");
    for (const auto& c : qls::cli::commands()) std::fprintf(out, "  %-10s %s\n", c.name, c.summary);
    std::fprintf(out, "\n'qlora <command> --help' describes a command.\n");
}

}  // namespace

int main(int argc, char** argv) {
#ifdef QLS_HAVE_CUDA
    qls::cuda::register_cuda_backend();  // --device auto then takes a GPU when one answers
#endif
    std::vector<std::string> args(argv + 1, argv + argc);
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
        print_usage(args.empty() ? stderr : stdout);
        return args.empty() ? 2 : 0;
    }
    if (args[0] == "--version") {
        std::printf("qlora %s\n", QLS_VERSION);
        return 0;
    }
    for (const auto& c : qls::cli::commands()) {
        if (args[0] != c.name) continue;
        if (args.size() == 2 && (args[1] == "--help" || args[1] == "-h")) {
            std::fputs(c.usage, stdout);
            return 0;
        }
        try {
            return c.run(std::vector<std::string>(args.begin() + 1, args.end()));
        } catch (const qls::cli::UsageError& e) {
            std::fprintf(stderr, "qlora %s: %s\n%s", c.name, e.what(), c.usage);
            return 2;
        } catch (const std::exception& e) {
            std::fprintf(stderr, "qlora %s: error: %s\n", c.name, e.what());
            return 1;
        }
    }
    std::fprintf(stderr, "qlora: unknown command '%s'\n\n", args[0].c_str());
    print_usage(stderr);
    return 2;
}
