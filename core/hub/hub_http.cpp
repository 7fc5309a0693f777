#include "core/hub/hub_http.h"

#include <curl/curl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>

namespace qls {

namespace {

struct SlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

void global_init() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// The first few hundred bytes of an error answer: the Hub puts its reason there.
std::string snippet(const std::string& body) {
    constexpr std::size_t kMax = 300;
    std::string s = body.substr(0, kMax);
    for (char& c : s)
        if (c == '\n' || c == '\r') c = ' ';
    return body.size() > kMax ? s + "..." : s;
}

}  // namespace

struct HubHttp::Transfer {
    HttpResponse response;
    Slist header_list;
    std::FILE* sink = nullptr;      // download target; the body goes to response.body when null
    std::uint64_t resume_from = 0;  // bytes the file held when the request was made
    std::uint64_t expected = 0;
    bool body_started = false;
    bool error_body = false;  // a >= 400 answer: its text goes to response.body
    const ProgressFn* progress = nullptr;
    bool cancelled = false;
    std::FILE* source = nullptr;  // upload body
    std::uint64_t source_size = 0;
    CURL* curl = nullptr;
};

HubHttp::HubHttp(std::string endpoint, std::optional<std::string> token)
    : m_endpoint(std::move(endpoint)), m_token(std::move(token)) {
    global_init();
    m_curl = curl_easy_init();
    QLS_CHECK(IoError, m_curl != nullptr, "libcurl could not create a transfer handle");
}

HubHttp::~HubHttp() {
    curl_easy_cleanup(static_cast<CURL*>(m_curl));
}

static std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
    auto& t = *static_cast<HubHttp::Transfer*>(user);
    const std::size_t bytes = size * n;
    if (!t.body_started) {
        t.body_started = true;
        long status = 0;
        curl_easy_getinfo(t.curl, CURLINFO_RESPONSE_CODE, &status);
        t.error_body = status >= 400;
        // A server that answers a Range request with the whole file: start the file over.
        if (t.sink && !t.error_body && t.resume_from > 0 && status == 200) {
            if (std::fflush(t.sink) != 0 || ftruncate(fileno(t.sink), 0) != 0 ||
                std::fseek(t.sink, 0, SEEK_SET) != 0)
                return 0;
            t.resume_from = 0;
        }
    }
    if (!t.sink || t.error_body) {
        t.response.body.append(data, bytes);
        return bytes;
    }
    return std::fwrite(data, 1, bytes, t.sink);
}

// libcurl's totals are of this response only; ours count the whole file (resumed bytes too).
static int on_progress(void* user, curl_off_t, curl_off_t dlnow, curl_off_t, curl_off_t ulnow) {
    auto& t = *static_cast<HubHttp::Transfer*>(user);
    if (!t.progress || !*t.progress) return 0;
    const std::uint64_t done =
        t.source ? static_cast<std::uint64_t>(ulnow) : t.resume_from + static_cast<std::uint64_t>(dlnow);
    const std::uint64_t total = t.source ? t.source_size : t.expected;
    if (!(*t.progress)(static_cast<std::size_t>(std::min(done, total)), static_cast<std::size_t>(total))) {
        t.cancelled = true;
        return 1;
    }
    return 0;
}

void HubHttp::prepare(const std::string& url, const std::vector<std::string>& headers, bool hub_request,
                      Transfer& t) {
    CURL* c = static_cast<CURL*>(m_curl);
    curl_easy_reset(c);
    t.curl = c;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
    // A transfer that moves nothing for a minute is dead; a slow one is fine.
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "qlora-studio");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_slist* list = nullptr;
    // The token is for the Hub alone; curl also drops it when a redirect changes host.
    if (hub_request && m_token && url.rfind(m_endpoint + "/", 0) == 0)
        list = curl_slist_append(list, ("Authorization: Bearer " + *m_token).c_str());
    // Large bodies would otherwise wait for "100 Continue" first.
    list = curl_slist_append(list, "Expect:");
    for (const auto& h : headers) list = curl_slist_append(list, h.c_str());
    t.header_list.reset(list);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
}

void HubHttp::perform(const std::string& method, const std::string& url, Transfer& t) {
    CURL* c = static_cast<CURL*>(m_curl);
    const CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &t.response.status);
    if (t.cancelled) throw Cancelled();
    if (t.response.status >= 400)
        throw HttpError(str_cat(method, " ", url, ": HTTP ", t.response.status,
                                t.response.body.empty() ? "" : ": " + snippet(t.response.body)),
                        t.response.status);
    if (rc != CURLE_OK)
        throw HttpError(str_cat(method, " ", url, ": ", curl_easy_strerror(rc),
                                t.response.status ? str_cat(" (HTTP ", t.response.status, ")") : ""),
                        t.response.status);
}

HttpResponse HubHttp::request(const std::string& method, const std::string& url, const std::string& body,
                              const std::vector<std::string>& headers) {
    Transfer t;
    prepare(url, headers, true, t);
    CURL* c = static_cast<CURL*>(m_curl);
    QLS_ASSERT(method == "GET" || method == "POST", "HubHttp::request: unsupported method ", method);
    if (method == "POST") {
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    }
    perform(method, url, t);
    return std::move(t.response);
}

void HubHttp::download(const std::string& url, const std::filesystem::path& file, std::uint64_t expected_size,
                       const ProgressFn& progress) {
    File out(std::fopen(file.c_str(), "ab"));
    QLS_CHECK(IoError, out != nullptr, "cannot write '", file.string(), "': ", std::strerror(errno));
    Transfer t;
    t.sink = out.get();
    std::error_code ec;
    t.resume_from = std::filesystem::file_size(file, ec);
    t.expected = expected_size;
    t.progress = &progress;
    prepare(url, {}, true, t);
    // CURLOPT_RANGE rather than RESUME_FROM: curl would refuse a 200 answer, which on_body handles.
    const std::string range = std::to_string(t.resume_from) + "-";
    if (t.resume_from > 0) curl_easy_setopt(static_cast<CURL*>(m_curl), CURLOPT_RANGE, range.c_str());
    try {
        perform("GET", url, t);
    } catch (...) {
        std::fflush(out.get());  // keep what arrived for the next attempt
        throw;
    }
    QLS_CHECK(IoError, std::fflush(out.get()) == 0, "cannot write '", file.string(),
              "': ", std::strerror(errno));
}

static std::size_t on_upload_read(char* buffer, std::size_t size, std::size_t n, void* user) {
    auto& t = *static_cast<HubHttp::Transfer*>(user);
    return std::fread(buffer, 1, size * n, t.source);
}

HttpResponse HubHttp::upload_file(const std::string& url, const std::filesystem::path& file,
                                  const std::vector<std::string>& headers, const ProgressFn& progress) {
    File in(std::fopen(file.c_str(), "rb"));
    QLS_CHECK(IoError, in != nullptr, "cannot read '", file.string(), "': ", std::strerror(errno));
    Transfer t;
    t.source = in.get();
    t.source_size = std::filesystem::file_size(file);
    t.progress = &progress;
    prepare(url, headers, false, t);
    CURL* c = static_cast<CURL*>(m_curl);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_upload_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &t);
    curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(t.source_size));
    perform("PUT", url, t);
    return std::move(t.response);
}

}  // namespace qls
