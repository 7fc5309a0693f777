// The playground's multi-turn prompts (chat_prompt_builder.h) on the demo tokenizer: the model's
// chat template rendered through the Jinja engine with and without a system prompt, exchanges
// without a reply left out, the oldest exchanges dropped to fit the context (the system prompt
// and the newest message kept), the fallbacks when the model has no template (the run's
// training template, cut exactly where training's rendering puts the reply; ChatML; plain
// text), and the default system prompt a template writes.
#include <QtTest>

#include <nlohmann/json.hpp>

#include <fstream>

#include "core/model/chat_prompt_builder.h"
#include "core/model/model_loader.h"
#include "core/template/chat_template.h"
#include "core/tokenizer/tokenizer.h"
#include "test_support.h"

using namespace qls;

namespace {

std::filesystem::path demo_dir() { return test::source_dir() / "resources" / "demo" / "model"; }

// The demo tokenizer with another chat template; "" writes none.
Tokenizer demo_tokenizer_with(const test::ScratchDir& scratch, const std::string& chat_template) {
    const std::filesystem::path dir = scratch.path() / "tokenizer";
    std::filesystem::create_directories(dir);
    std::filesystem::copy_file(demo_dir() / "tokenizer.json", dir / "tokenizer.json",
                               std::filesystem::copy_options::overwrite_existing);
    nlohmann::json config = nlohmann::json::parse(test::read_bytes(demo_dir() / "tokenizer_config.json"));
    if (chat_template.empty()) config.erase("chat_template");
    else config["chat_template"] = chat_template;
    std::ofstream(dir / "tokenizer_config.json") << config.dump();
    return load_tokenizer(dir);
}

// What transformers' apply_chat_template(messages, add_generation_prompt=True) renders.
std::string reference_render(const Tokenizer& tok, const nlohmann::ordered_json& messages) {
    nlohmann::ordered_json ctx;
    ctx["bos_token"] = *tok.config().bos_token;
    ctx["eos_token"] = *tok.config().eos_token;
    ctx["pad_token"] = *tok.config().pad_token;
    ctx["messages"] = messages;
    ctx["add_generation_prompt"] = true;
    return render_chat_template(tok.chat_template(), ctx);
}

ChatRequest two_exchanges(std::string system) {
    ChatRequest r;
    r.system = std::move(system);
    r.history = {{"Tell me a fortune about love.", "Arr, love be a treasure."},
                 {"And about the sea?", "The sea be deep, matey."}};
    r.message = "One more, about gold.";
    r.max_new_tokens = 32;
    r.context = 512;
    return r;
}

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

}  // namespace

class TestConversation : public QObject {
    Q_OBJECT
private:
    LlamaConfig m_config;
    std::unique_ptr<Tokenizer> m_demo;

private slots:
    void initTestCase() {
        m_config = load_llama_config(demo_dir() / "config.json");
        m_demo = std::make_unique<Tokenizer>(load_tokenizer(demo_dir()));
    }

    void multiTurnWithSystemRendersTheModelTemplate() {
        const ChatPromptBuilder builder(*m_demo, m_config, TemplateKind::ModelTemplate);
        const ChatPrompt p = builder.build(two_exchanges("Speak like a pirate."));
        const nlohmann::ordered_json messages = {
            {{"role", "system"}, {"content", "Speak like a pirate."}},
            {{"role", "user"}, {"content", "Tell me a fortune about love."}},
            {{"role", "assistant"}, {"content", "Arr, love be a treasure."}},
            {{"role", "user"}, {"content", "And about the sea?"}},
            {{"role", "assistant"}, {"content", "The sea be deep, matey."}},
            {{"role", "user"}, {"content", "One more, about gold."}}};
        QCOMPARE(p.prompt.text, reference_render(*m_demo, messages));
        QVERIFY(p.prompt.text.ends_with("<|im_start|>assistant\n"));
        QCOMPARE(p.prompt.ids, m_demo->encode(p.prompt.text, false));  // the template writes the BOS
        QCOMPARE(p.prompt.ids.front(), 0);
        QCOMPARE(p.dropped_exchanges, std::size_t(0));
        QCOMPARE(p.prompt.format, std::string("model template"));
        QVERIFY(std::find(p.prompt.stop_ids.begin(), p.prompt.stop_ids.end(), 2) != p.prompt.stop_ids.end());
        QCOMPARE(builder.source(), m_demo->chat_template());
    }

    void withoutSystemTheTemplateStartsWithTheUser() {
        const ChatPromptBuilder builder(*m_demo, m_config, TemplateKind::ModelTemplate);
        const ChatPrompt p = builder.build(two_exchanges(""));
        QVERIFY(!contains(p.prompt.text, "<|im_start|>system"));
        QVERIFY(p.prompt.text.starts_with("<|endoftext|><|im_start|>user\nTell me a fortune about love.<|im_end|>\n"));
        QVERIFY(builder.default_system().empty());  // the demo template writes no default
    }

    void exchangesWithoutAReplyAreLeftOut() {
        const ChatPromptBuilder builder(*m_demo, m_config, TemplateKind::ModelTemplate);
        ChatRequest r = two_exchanges("");
        r.history[0].reply.reset();  // this side did not answer the first message
        const std::string text = builder.build(r).prompt.text;
        QVERIFY(!contains(text, "about love"));
        QVERIFY(text.starts_with("<|endoftext|><|im_start|>user\nAnd about the sea?<|im_end|>\n<|im_start|>assistant\n"));
    }

    void truncationKeepsTheSystemPromptAndTheNewestExchanges() {
        const ChatPromptBuilder builder(*m_demo, m_config, TemplateKind::ModelTemplate);
        ChatRequest r;
        r.system = "Speak like a pirate.";
        for (int i = 0; i < 12; ++i)
            r.history.push_back({"Question number " + std::to_string(i) + " about the stars and the sea?",
                                 "Answer number " + std::to_string(i) + ": arr, the stars be bright over the sea."});
        r.message = "The newest question.";
        r.max_new_tokens = 64;
        r.context = 512;
        const std::size_t full = builder.build(ChatRequest{r.system, r.history, r.message, 64, 0}).prompt.ids.size();
        QVERIFY2(std::int64_t(full) + 64 > 512, "the history must overflow the context for this test");

        const ChatPrompt p = builder.build(r);
        QVERIFY(p.dropped_exchanges > 0 && p.dropped_exchanges < r.history.size());
        QVERIFY(std::int64_t(p.prompt.ids.size()) + r.max_new_tokens <= r.context);
        QVERIFY(p.prompt.text.starts_with("<|endoftext|><|im_start|>system\nSpeak like a pirate.<|im_end|>\n"));
        QVERIFY(contains(p.prompt.text, "The newest question."));
        QVERIFY(contains(p.prompt.text, "Answer number 11:"));
        const std::string first_kept = "Question number " + std::to_string(p.dropped_exchanges) + " ";
        const std::string last_dropped = "Question number " + std::to_string(p.dropped_exchanges - 1) + " ";
        QVERIFY(contains(p.prompt.text, first_kept));
        QVERIFY(!contains(p.prompt.text, last_dropped));
        // As few dropped as possible: keeping one more exchange would not fit.
        ChatRequest one_more = r;
        one_more.history.erase(one_more.history.begin(), one_more.history.begin() + std::ptrdiff_t(p.dropped_exchanges - 1));
        one_more.context = 0;
        QVERIFY(std::int64_t(builder.build(one_more).prompt.ids.size()) + r.max_new_tokens > r.context);
    }

    void aMessageTooLongForTheContextIsAConfigError() {
        const ChatPromptBuilder builder(*m_demo, m_config, TemplateKind::ModelTemplate);
        ChatRequest r = two_exchanges("Speak like a pirate.");
        r.max_new_tokens = 500;
        QLS_VERIFY_THROWS_WITH(builder.build(r), ConfigError, "exceed the model's context of 512 tokens");
    }

    void withoutATemplateTheTrainingTemplateIsUsed() {
        test::ScratchDir scratch;
        const Tokenizer tok = demo_tokenizer_with(scratch, "");
        QVERIFY(tok.chat_template().empty());
        QCOMPARE(default_chat_template(tok, TemplateKind::Alpaca), ChatTemplateChoice(TemplateKind::Alpaca));
        QCOMPARE(default_chat_template(tok, TemplateKind::ModelTemplate), ChatTemplateChoice(TemplateKind::ChatML));
        QLS_VERIFY_THROWS_WITH(ChatPromptBuilder(tok, m_config, TemplateKind::ModelTemplate), ConfigError,
                               "the model has no chat template");

        // The prompt is the training rendering of the chat with its next reply, cut before it.
        for (TemplateKind kind : {TemplateKind::ChatML, TemplateKind::Alpaca, TemplateKind::Zephyr, TemplateKind::Raw}) {
            const ChatPromptBuilder builder(tok, m_config, kind);
            const ChatRequest r = two_exchanges(kind == TemplateKind::Raw ? "" : "Speak like a pirate.");
            const ChatPrompt p = builder.build(r);
            Conversation whole;
            if (!r.system.empty()) whole.messages.push_back({Role::System, r.system});
            for (const ChatExchange& e : r.history) {
                whole.messages.push_back({Role::User, e.user});
                whole.messages.push_back({Role::Assistant, *e.reply});
            }
            whole.messages.push_back({Role::User, r.message});
            whole.messages.push_back({Role::Assistant, "Gold be heavy."});
            std::string trained_text;
            for (const TextPiece& piece : ChatFormat(kind, tok).render(whole)) trained_text += piece.text;
            const QByteArray name = QByteArray::fromStdString(chat_template_choice_name(kind));
            QVERIFY2(trained_text.starts_with(p.prompt.text), name);
            QVERIFY2(trained_text.substr(p.prompt.text.size()).starts_with("Gold be heavy."), name);
            QCOMPARE(p.prompt.format, chat_template_choice_name(kind));
            QVERIFY2(std::find(p.prompt.stop_ids.begin(), p.prompt.stop_ids.end(), 2) != p.prompt.stop_ids.end(), name);
        }
        // ChatML is what the model's end-of-turn token <|im_end|> suggests when nothing else does.
        const ChatPrompt chatml = ChatPromptBuilder(tok, m_config, TemplateKind::ChatML).build(two_exchanges(""));
        QVERIFY(chatml.prompt.text.starts_with("<|im_start|>user\nTell me a fortune about love.<|im_end|>\n"));
        QVERIFY(chatml.prompt.text.ends_with("<|im_start|>user\nOne more, about gold.<|im_end|>\n<|im_start|>assistant\n"));
        QCOMPARE(chatml.prompt.ids.front(), 0);  // the BOS the tokenizer adds
        // A named template shows what it writes on an example chat.
        const ChatPromptBuilder alpaca(tok, m_config, TemplateKind::Alpaca);
        QVERIFY2(contains(alpaca.source(), "### Instruction:\n{user}") && alpaca.source().ends_with("### Response:\n"),
                 alpaca.source().c_str());
        QVERIFY(alpaca.default_system().starts_with("Below is an instruction that describes a task."));
    }

    void plainTextJoinsTheTurns() {
        const ChatPromptBuilder builder(*m_demo, m_config, std::nullopt);
        const ChatPrompt p = builder.build(two_exchanges("Speak like a pirate."));
        QCOMPARE(p.prompt.text, std::string("Speak like a pirate.\n\nTell me a fortune about love.\n\nArr, love be a "
                                            "treasure.\n\nAnd about the sea?\n\nThe sea be deep, matey.\n\nOne more, about gold."));
        QCOMPARE(p.prompt.format, std::string("plain"));
        QVERIFY(builder.default_system().empty());
        QCOMPARE(p.prompt.ids, tokenize_prompt(*m_demo, p.prompt.text));
        // One message and no system prompt: the text itself, as the raw-text prompt.
        ChatRequest single;
        single.message = "Once upon a time";
        QCOMPARE(builder.build(single).prompt.ids, make_prompt(*m_demo, m_config, "Once upon a time", PromptMode::Plain).ids);
    }

    void aTemplatesDefaultSystemPromptIsFound() {
        test::ScratchDir scratch;
        // Qwen2's template: its own system prompt when the chat has none.
        const Tokenizer tok = demo_tokenizer_with(scratch,
            "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
            "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
            "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
            "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}");
        const ChatPromptBuilder builder(tok, m_config, TemplateKind::ModelTemplate);
        QCOMPARE(builder.default_system(), std::string("You are a helpful assistant."));
        // The default given explicitly renders the same prompt as none.
        QCOMPARE(builder.build(two_exchanges("You are a helpful assistant.")).prompt.text, builder.build(two_exchanges("")).prompt.text);
    }
};

QTEST_GUILESS_MAIN(TestConversation)
#include "test_conversation.moc"
