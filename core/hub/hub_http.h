// The Hub's HTTP transport: one libcurl easy handle (RAII), reused across requests so the
// connection is kept. Every failure names the method, the URL and the HTTP status or libcurl's
// reason. The token goes only to URLs under the Hub endpoint, never to LFS storage or another
// host a redirect leads to.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/util/error.h"
#include "core/util/progress.h"

namespace qls {

// A request the server refused (status >= 400) or that never completed (status 0).
class HttpError : public IoError {
public:
    HttpError(std::string message, long status) : IoError(std::move(message)), m_status(status) {}
    long status() const { return m_status; }

private:
    long m_status;
};

struct HttpResponse {
    long status = 0;
    std::string body;
};

class HubHttp {
public:
    HubHttp(std::string endpoint, std::optional<std::string> token);
    ~HubHttp();
    HubHttp(const HubHttp&) = delete;
    HubHttp& operator=(const HubHttp&) = delete;

    // A GET or POST whose answer fits in memory (API calls), following redirects. Throws
    // HttpError for a status >= 400 with the server's message.
    HttpResponse request(const std::string& method, const std::string& url, const std::string& body = {},
                         const std::vector<std::string>& headers = {});

    // GET url into `file`, continuing after the bytes the file already holds with a Range
    // request (a server that ignores Range starts it over). What arrived stays in the file when
    // the transfer breaks, for the next call to resume. progress gets (bytes held, expected_size).
    void download(const std::string& url, const std::filesystem::path& file, std::uint64_t expected_size,
                  const ProgressFn& progress);

    // PUT a file's bytes to LFS storage, with the headers the batch answer gave and never the
    // token (storage authorizes by those); progress gets (bytes sent, size).
    HttpResponse upload_file(const std::string& url, const std::filesystem::path& file,
                             const std::vector<std::string>& headers, const ProgressFn& progress);

    struct Transfer;  // one request's state, shared with libcurl's callbacks

private:
    void prepare(const std::string& url, const std::vector<std::string>& headers, bool hub_request,
                 Transfer& t);
    void perform(const std::string& method, const std::string& url, Transfer& t);

    void* m_curl;  // CURL*, kept opaque so callers need no curl header
    std::string m_endpoint;
    std::optional<std::string> m_token;
};

}  // namespace qls
