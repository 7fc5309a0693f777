// qlora-studio [MODEL] [--demo] [--screenshot DIR]
#include <QApplication>
#include <QCommandLineParser>
#include <QTimer>

#include <cstdio>
#include <cstring>

#include "ui/main_window.h"
#include "ui/quit_signals.h"
#include "ui/screenshot_runner.h"
#ifdef QLS_HAVE_CUDA
#include "kernels/cuda_backend.h"
#endif

int main(int argc, char** argv) {
#ifdef QLS_HAVE_CUDA
    qls::cuda::register_cuda_backend();  // the Device menu then lists the GPUs
#endif
    QApplication app(argc, argv);
    QApplication::setApplicationName("QLoRA Studio");
    QApplication::setOrganizationName("QLoRA Studio");
    QApplication::setApplicationVersion(QLS_VERSION);
    QApplication::setDesktopFileName("qlora-studio");
    QApplication::setStyle("Fusion");

    QCommandLineParser parser;
    parser.setApplicationDescription("QLoRA finetuning studio: open a model and a dataset, see whether "
                                     "they fit, train an adapter and watch it learn, inspect what 4-bit "
                                     "quantization does to the weights.");
    parser.addHelpOption();
    parser.addVersionOption();
    const QCommandLineOption demo("demo", "Open the demo model and dataset that ship with the program, with a "
                                          "short run's settings (press Start, F5, to train).");
    const QCommandLineOption screenshot("screenshot", "Render every page to DIR/<page>.png once the model "
                                                      "is loaded and inspected (and, with --demo, a short "
                                                      "run has trained), then exit.", "DIR");
    parser.addOption(demo);
    parser.addOption(screenshot);
    parser.addPositionalArgument("MODEL", "A Hugging Face model folder, a bitsandbytes 4-bit folder or a .gguf file.");
    parser.process(app);

    const QStringList models = parser.positionalArguments();
    if (models.size() > 1) {
        std::fprintf(stderr, "qlora-studio: at most one MODEL, got %lld\n", qlonglong(models.size()));
        return 2;
    }
    const bool shots = parser.isSet(screenshot);
    if (shots && models.isEmpty() && !parser.isSet(demo)) {
        std::fprintf(stderr, "qlora-studio: --screenshot needs a model: pass MODEL or --demo\n");
        return 2;
    }

    qls::ui::MainWindow window;
    // A logout, systemd stop or Ctrl-C saves a running training before the studio ends.
    qls::ui::QuitSignals quitSignals;
    QObject::connect(&quitSignals, &qls::ui::QuitSignals::quitRequested, &window, [&window](int sig) {
        std::fprintf(stderr, "qlora-studio: %s: saving a running training, then quitting\n", strsignal(sig));
        window.saveAndQuit();
    });
    int exitCode = 0;
    if (shots) {
        auto* runner = new qls::ui::ScreenshotRunner(&window, parser.value(screenshot));
        QObject::connect(runner, &qls::ui::ScreenshotRunner::finished, &app, [&](bool ok, const QString& message) {
            std::fprintf(ok ? stdout : stderr, "qlora-studio: %s\n", qPrintable(message));
            exitCode = ok ? 0 : 1;
            QApplication::quit();
        });
    }
    window.show();
    if (!models.isEmpty())
        window.openModel(models.front());
    else if (parser.isSet(demo))
        window.setUpDemo();
    const int rc = QApplication::exec();
    if (quitSignals.firstSignal()) return 128 + quitSignals.firstSignal();
    return shots ? exitCode : rc;
}
