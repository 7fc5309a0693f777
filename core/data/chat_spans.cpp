#include "core/data/chat_spans.h"

#include <algorithm>

namespace qls {
namespace {

using ojson = nlohmann::ordered_json;

bool whitespace_only(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; });
}

ojson message_list(std::span<const Message> messages) {
    ojson list = ojson::array();
    for (const Message& m : messages) list.push_back(ojson{{"role", role_name(m.role)}, {"content", m.content}});
    return list;
}

std::vector<TextPiece> pieces_from_spans(const std::string& text, const std::vector<std::pair<std::size_t, std::size_t>>& spans) {
    std::vector<TextPiece> pieces;
    std::size_t at = 0;
    for (const auto& [begin, end] : spans) {
        pieces.push_back({text.substr(at, begin - at), false});
        pieces.push_back({text.substr(begin, end - begin), true});
        at = end;
    }
    pieces.push_back({text.substr(at), false});
    return pieces;
}

std::size_t common_prefix(std::string_view a, std::string_view b) {
    return std::size_t(std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first - a.begin());
}

// Back to the start of the UTF-8 character `at` falls in.
std::size_t char_boundary(std::string_view s, std::size_t at) {
    while (at > 0 && at < s.size() && (static_cast<unsigned char>(s[at]) & 0xC0) == 0x80) --at;
    return at;
}

// End offset of the last special token lying wholly in [begin, end) of `text`; 0 when none.
std::size_t last_special_end(std::string_view text, std::size_t begin, std::size_t end, std::span<const std::string> specials) {
    std::size_t best = 0;
    const std::string_view span = text.substr(begin, end - begin);
    for (const std::string& s : specials) {
        if (s.empty() || s.size() > span.size()) continue;
        if (std::size_t pos = span.rfind(s); pos != std::string_view::npos) best = std::max(best, begin + pos + s.size());
    }
    return best;
}

// Only whitespace and special tokens: the layout between turns, no message text.
bool only_layout(std::string_view s, std::span<const std::string> specials) {
    for (;;) {
        while (!s.empty() && (s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r')) s.remove_prefix(1);
        if (s.empty()) return true;
        auto hit = std::find_if(specials.begin(), specials.end(), [&](const std::string& t) { return !t.empty() && s.starts_with(t); });
        if (hit == specials.end()) return false;
        s.remove_prefix(hit->size());
    }
}

}  // namespace

std::size_t end_after_last_special(std::string_view text, std::size_t begin, std::size_t end,
                                   std::span<const std::string> specials) {
    const std::size_t cut = last_special_end(text, begin, end, specials);
    return cut > 0 && whitespace_only(text.substr(cut, end - cut)) ? cut : end;
}

std::vector<TextPiece> model_template_pieces(const ChatTemplate& tmpl, const ojson& context,
                                             std::span<const Message> messages, std::span<const std::string> specials,
                                             const ChatRenderOptions& options) {
    auto render = [&](std::size_t n, bool generation_prompt) {
        ojson ctx = context;
        ctx["messages"] = message_list(messages.first(n));
        ctx["add_generation_prompt"] = generation_prompt;
        return tmpl.render_with_spans(ctx, options);
    };
    const ChatRenderResult whole = render(messages.size(), false);
    const std::string& text = whole.text;
    std::vector<std::pair<std::size_t, std::size_t>> spans;
    if (!whole.generation_spans.empty()) {
        // {% generation %} blocks may hold the assistant header the generation prompt supplies at
        // inference ("<|im_start|>assistant\n"): the part they share with it is not trained.
        const auto first = std::find_if(messages.begin(), messages.end(), [](const Message& m) { return m.role == Role::Assistant; });
        const std::size_t k = std::size_t(first - messages.begin());
        const std::string before = render(k, false).text, prompt = render(k, true).text;
        const std::string_view header = prompt.starts_with(before) ? std::string_view(prompt).substr(before.size()) : std::string_view();
        for (auto [begin, end] : whole.generation_spans) {
            begin = char_boundary(text, begin + common_prefix(header, std::string_view(text).substr(begin, end - begin)));
            end = end_after_last_special(text, begin, end, specials);
            if (begin < end) spans.emplace_back(begin, end);
        }
        return pieces_from_spans(text, spans);
    }
    std::size_t previous_end = 0;
    for (std::size_t i = 0; i < messages.size(); ++i) {
        if (messages[i].role != Role::Assistant) continue;
        const std::string with = i + 1 == messages.size() ? text : render(i + 1, false).text;
        const std::string prompt = render(i, true).text;
        const std::size_t begin = char_boundary(with, common_prefix(prompt, with));
        // The turn ends with `with`, unless the template closes a last turn differently (Phi-3
        // appends EOS): then it ends at its last special token, provided the two renderings
        // differ only in the layout after it.
        const std::size_t agreed = common_prefix(with, text);
        std::size_t end = end_after_last_special(text, begin, agreed, specials);
        if (agreed < with.size()) {
            end = last_special_end(with, begin, agreed, specials);
            if (end == 0 || !only_layout(std::string_view(with).substr(end), specials)) continue;
        }
        if (begin < previous_end || begin >= end) continue;
        spans.emplace_back(begin, end);
        previous_end = end;
    }
    return pieces_from_spans(text, spans);
}

}  // namespace qls
