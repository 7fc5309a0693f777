#include "ui/quit_signals.h"

#include <QSocketNotifier>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <sys/socket.h>
#include <unistd.h>

#include "core/util/error.h"

namespace qls::ui {

namespace {

int g_fds[2] = {-1, -1};  // [0] read by the notifier, [1] written by the handler
constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP};

extern "C" void on_quit_signal(int sig) {
    const unsigned char byte = static_cast<unsigned char>(sig);
    (void)!::write(g_fds[1], &byte, 1);  // async-signal-safe; a full pipe drops it (a signal is pending anyway)
}

void set_handlers(void (*handler)(int)) {
    struct sigaction sa {};
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (int sig : kSignals) sigaction(sig, &sa, nullptr);
}

}  // namespace

QuitSignals::QuitSignals(QObject* parent) : QObject(parent) {
    QLS_ASSERT(g_fds[0] < 0, "QuitSignals constructed twice");
    QLS_CHECK(IoError, ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, g_fds) == 0,
              "cannot create the signal pipe");
    m_notifier = new QSocketNotifier(g_fds[0], QSocketNotifier::Read, this);
    connect(m_notifier, &QSocketNotifier::activated, this, &QuitSignals::readSignal);
    set_handlers(on_quit_signal);
}

QuitSignals::~QuitSignals() {
    set_handlers(SIG_DFL);
    for (int& fd : g_fds) {
        ::close(fd);
        fd = -1;
    }
}

void QuitSignals::readSignal() {
    unsigned char byte = 0;
    if (::read(g_fds[0], &byte, 1) != 1) return;
    ++m_count;
    if (m_count == 1) {
        m_first = byte;
        emit quitRequested(byte);
    } else if (m_count >= 3) {
        std::fprintf(stderr, "qlora-studio: quitting without saving\n");
        std::_Exit(128 + m_first);
    }
}

}  // namespace qls::ui
