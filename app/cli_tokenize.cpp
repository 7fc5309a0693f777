// `qlora tokenize PATH [--add-special]`: UTF-8 text on stdin -> ids on one line.
// `qlora tokenize PATH --chat FILE.json [--generation-prompt]`: the chat template rendered.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "app/cli_commands.h"
#include "core/model/model_loader.h"
#include "core/tokenizer/chat_file.h"
#include "core/tokenizer/tokenizer.h"

namespace qls::cli {

const char* const kTokenizeUsage =
    "usage: qlora tokenize PATH [--add-special]\n"
    "       qlora tokenize PATH --chat FILE.json [--generation-prompt]\n"
    "  PATH is a tokenizer.json, a model folder or a .gguf file. Without --chat, reads UTF-8 text on stdin and\n"
    "  prints the token ids. --add-special applies the post-processor (e.g. BOS).\n"
    "  --chat prints FILE.json's messages (a list, or {\"messages\": [...]}) rendered with the\n"
    "  model's chat template; --generation-prompt appends the assistant prompt.\n";

int run_tokenize(const std::vector<std::string>& args) {
    const Args a(args, {"add-special", "generation-prompt"}, {"chat"});
    a.expect_positional(1);
    const Tokenizer tok = load_tokenizer_from(a.positional()[0]);
    if (auto chat = a.option("chat")) {
        if (a.flag("add-special")) throw UsageError("--add-special does not apply to --chat");
        const std::string text = render_chat_file(tok, *chat, a.flag("generation-prompt"));
        std::fwrite(text.data(), 1, text.size(), stdout);
        return 0;
    }
    if (a.flag("generation-prompt")) throw UsageError("--generation-prompt needs --chat");
    const std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    std::printf("%s\n", format_ids(tok.encode(text, a.flag("add-special"))).c_str());
    return 0;
}

}  // namespace qls::cli
