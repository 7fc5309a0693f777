// libFuzzer target: arbitrary bytes as a dataset file. The first byte picks the reader (auto,
// JSON Lines, JSON array, CSV), the rest is the file. Every record the reader returns is
// detected and turned into a Conversation as training does; bad records must become issues or
// a qls::Error, never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/data/dataset_reader.h"
#include "core/data/record_form.h"
#include "core/util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    constexpr qls::FileFormat kFormats[] = {qls::FileFormat::Auto, qls::FileFormat::Jsonl,
                                            qls::FileFormat::JsonArray, qls::FileFormat::Csv};
    const auto format = kFormats[data[0] % 4];
    const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
    try {
        qls::IssueLog issues(qls::BadDataPolicy::Skip);
        const auto records = qls::parse_records(bytes, format, "fuzz.data", issues);
        const qls::FieldMapping mapping;
        const auto form = qls::detect_form(records, mapping, "fuzz.data");
        for (const auto& r : records) {
            try {
                (void)qls::to_conversation(r.value, form, mapping);
            } catch (const qls::Error&) {
            }
        }
    } catch (const qls::Error&) {
    }
    return 0;
}
