#include "ui/data_preview.h"

#include "core/data/batch_sampler.h"
#include "core/model/model_loader.h"
#include "core/tokenizer/stream_decoder.h"
#include "core/tokenizer/tokenizer.h"

namespace qls::ui {

namespace {

// Alternating shades mark token boundaries; hue says trained (green) or masked (grey).
QString tokenSpan(const QString& text, bool trained, bool odd) {
    static const char* kTrained[] = {"#bfe8c8", "#9fd8ac"};
    static const char* kMasked[] = {"#e8e8e8", "#d2d2d2"};
    QString escaped = text.toHtmlEscaped();
    escaped.replace(' ', "&nbsp;");
    escaped.replace('\n', "↵<br>");
    return QStringLiteral("<span style=\"background:%1;color:#111;\">%2</span>")
        .arg(trained ? kTrained[odd] : kMasked[odd], escaped);
}

// Tokens decode as a stream: a character split over several byte tokens (é, 🦜, 中) shows once,
// over the span of tokens that complete it, not as a U+FFFD per token; and a token's leading
// space shows as the stream gives it. A span is trained when any of its tokens is.
QString renderExample(const TokenizedExample& e, const Tokenizer& tokenizer) {
    QString html = QStringLiteral("<div style=\"font-family:monospace;\">");
    StreamDecoder decoder(tokenizer);
    bool trained = false;
    int spans = 0;
    for (std::size_t i = 0; i < e.ids.size(); ++i) {
        trained = trained || e.trained[i] != 0;
        const std::string piece = decoder.push(e.ids[i]);
        if (piece.empty() && i + 1 < e.ids.size()) continue;
        const std::string text = i + 1 < e.ids.size() ? piece : piece + decoder.flush();
        html += tokenSpan(QString::fromStdString(text), trained, spans++ % 2 == 1);
        trained = false;
    }
    html += QStringLiteral("</div><p style=\"color:gray;\">%1 tokens, %2 trained%3</p>")
                .arg(e.ids.size())
                .arg(e.trained_tokens())
                .arg(e.truncated ? QObject::tr(", truncated from %1").arg(e.full_length) : QString());
    return html;
}

}  // namespace

DatasetView prepareDatasetView(const DatasetOptions& options, const Model& model, const ProgressFn& progress,
                               int examples) {
    const Tokenizer tokenizer = load_model_tokenizer(model);
    PreparedDataset data = prepare_dataset(options, tokenizer, {}, progress);
    DatasetView view;
    view.form = data.form;
    view.stats = data.stats;
    view.issues = std::move(data.issues);
    view.trainRows = make_rows(data.train, options.max_seq_len, false).size();
    view.packedTrainRows = make_rows(data.train, options.max_seq_len, true).size();
    const std::size_t n = std::min(data.train.size(), std::size_t(std::max(0, examples)));
    for (std::size_t i = 0; i < n; ++i) {
        view.previews << renderExample(data.train[i], tokenizer);
        view.previewLines << int(data.train[i].line);
    }
    return view;
}

LengthHistogramChart::LengthHistogramChart(QWidget* parent) : LiveChart(tr("Token lengths"), parent) {
    m_bars = new QCPBars(xAxis, yAxis);
    m_bars->setName(tr("examples"));
    m_bars->setPen(Qt::NoPen);
    m_bars->setBrush(palette8(0));
    m_limit = new QCPItemStraightLine(this);
    m_limit->setPen(QPen(QColor(200, 30, 30), 1.6, Qt::DashLine));
    m_limitText = new QCPItemText(this);
    m_limitText->setColor(QColor(200, 30, 30));
    m_limitText->setPositionAlignment(Qt::AlignRight | Qt::AlignTop);
    m_limitText->position->setTypeY(QCPItemPosition::ptAxisRectRatio);
    xAxis->setLabel(tr("tokens, before truncation"));
    yAxis->setLabel(tr("examples"));
    // Token and example counts are whole: no tick at 2.5 examples.
    for (QCPAxis* axis : {xAxis, yAxis}) {
        auto ticker = QSharedPointer<QCPAxisTickerFixed>::create();
        ticker->setTickStep(1.0);
        ticker->setScaleStrategy(QCPAxisTickerFixed::ssMultiples);
        axis->setTicker(ticker);
    }
    clear();
}

void LengthHistogramChart::clear() {
    m_bars->data()->clear();
    m_limit->setVisible(false);
    m_limitText->setVisible(false);
    markDirty();
}

void LengthHistogramChart::setStats(const DatasetStats& s) {
    QVector<double> keys, counts;
    const double width = double(s.histogram.bin_width);
    for (std::size_t i = 0; i < s.histogram.counts.size(); ++i) {
        keys << (double(i) + 0.5) * width;
        counts << double(s.histogram.counts[i]);
    }
    m_bars->setWidth(width * 0.9);
    m_bars->setData(keys, counts, true);
    const double limit = double(s.max_seq_len);
    m_limit->point1->setCoords(limit, 0);
    m_limit->point2->setCoords(limit, 1);
    m_limit->setVisible(true);
    const std::size_t truncated = s.train.truncated + s.valid.truncated;
    m_limitText->setText(tr("max_seq_len %1: %2 truncated ").arg(s.max_seq_len).arg(truncated));
    m_limitValue = limit;
    m_limitText->position->setCoords(limit, 0.02);
    m_limitText->setVisible(true);
    markDirty();
}

void LengthHistogramChart::fitView() {
    bool found = false;
    const QCPRange keys = m_bars->getKeyRange(found);
    const QCPRange counts = m_bars->getValueRange(found);
    const double right = std::max(found ? keys.upper + m_bars->width() : 1.0, m_limitValue);
    xAxis->setRange(0, right * 1.04);
    yAxis->setRange(0, found && counts.upper > 0 ? counts.upper * 1.1 : 1.0);
}

}  // namespace qls::ui
