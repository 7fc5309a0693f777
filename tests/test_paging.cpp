// The optimizer's paged state (core/train/paged_state.h) on a backend whose copy stream lags:
// the exact event sequence, traffic per step against the budget (a fixed resident set, the
// rest streamed once each way), and results bit-identical with and without paging.
#include <QtTest>

#include "core/backend/cpu/cpu_backend.h"
#include "core/train/adamw_optimizer.h"
#include "optimizer_test_support.h"
#include "stream_check_backend.h"
#include "test_support.h"

using namespace qls;
using namespace qls::test;

namespace {

PagingEvent paging_event(std::int64_t step, PagingEvent::Direction d, std::string reason) {
    return {0.0, step, d, 1024, 1, std::move(reason)};
}

}  // namespace

class TestPaging : public QObject {
    Q_OBJECT
private slots:
    void pagingEventSequence();
    void pagingTrafficPerBudget_data();
    void pagingTrafficPerBudget();
    void pagingIsBitIdentical();
};

// Four parameters of 100, 200, 60 and 150 elements in 1 KiB pages (128 elements): page 0
// [0,128) holds layer.0 and layer.1, page 1 [128,256) layer.1, page 2 [256,384) layer.1,
// layer.2 and layer.3, page 3 [384,510) layer.3. Three pages fit: page 0 stays, pages 1..3
// stream through two windows that start with pages 1 and 2. Worked out by hand.
void TestPaging::pagingEventSequence() {
    test::StreamCheckBackend be;
    ToyParams toy(be, {100, 200, 60, 150}, 5);
    AdamWOptimizer opt(be, toy.params, {}, {1024, 3 * 1024});
    QCOMPARE(opt.state().page_count(), 4);
    QCOMPARE(opt.state().capacity(), 3);
    QCOMPARE(opt.state().fixed_pages(), 1);
    QVERIFY(opt.state().is_resident(0) && opt.state().is_resident(1) && opt.state().is_resident(2) &&
            !opt.state().is_resident(3));
    QVERIFY(opt.drain_paging_events().empty());  // initial placement moves nothing
    for (int step = 1; step <= 2; ++step) {
        set_grads(be, toy.params, step);
        QVERIFY(opt.step(1e-3).applied);
    }
    const auto out = PagingEvent::Direction::ToHost, in = PagingEvent::Direction::ToDevice;
    const std::vector<PagingEvent> want = {
        // step 1: page 1 (window 0) finds page 2 placed in window 1 already; page 2 swaps page
        // 3 in for page 1, page 3 swaps the next step's page 1 in for page 2.
        paging_event(1, out, "write back page 1 from window 0 after layer.1"),
        paging_event(1, in, "prefetch page 3 into window 0 for layer.3"),
        paging_event(1, out, "write back page 2 from window 1 after layer.3"),
        paging_event(1, in, "prefetch page 1 into window 1 for layer.1 of the next step"),
        // step 2: every streamed page once each way.
        paging_event(2, out, "write back page 3 from window 0 after layer.3"),
        paging_event(2, in, "prefetch page 2 into window 0 for layer.1"),
        paging_event(2, out, "write back page 1 from window 1 after layer.1"),
        paging_event(2, in, "prefetch page 3 into window 1 for layer.3"),
        paging_event(2, out, "write back page 2 from window 0 after layer.3"),
        paging_event(2, in, "prefetch page 1 into window 0 for layer.1 of the next step"),
    };
    const std::vector<PagingEvent> got = opt.drain_paging_events();
    QCOMPARE(got.size(), want.size());
    double last = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        QVERIFY(got[i].time_s >= last);
        last = got[i].time_s;
        const auto describe = [](const PagingEvent& e) {
            return QString("step %1 %2 %3 pages %4 bytes '%5'")
                .arg(e.step)
                .arg(e.direction == PagingEvent::Direction::ToHost ? "to host" : "to device")
                .arg(e.pages)
                .arg(e.bytes)
                .arg(QString::fromStdString(e.reason));
        };
        QCOMPARE(describe(got[i]), describe(want[i]));
    }
    QVERIFY(opt.drain_paging_events().empty());
    QVERIFY(opt.state().is_resident(0) && opt.state().is_resident(1) && !opt.state().is_resident(2) &&
            opt.state().is_resident(3));
    QVERIFY2(be.hazards().empty(), be.first_hazard().c_str());
}

void TestPaging::pagingTrafficPerBudget_data() {
    QTest::addColumn<qint64>("budgetPages");
    QTest::addColumn<qint64>("fixedPages");  // R, by hand: all pages when they fit, else C - 2 (0 below 3)
    // 2019 elements in 512-byte pages of 64 elements: P = 32.
    QTest::newRow("all fit") << qint64(32) << qint64(32);
    QTest::newRow("one page short") << qint64(31) << qint64(29);
    QTest::newRow("half") << qint64(16) << qint64(14);
    QTest::newRow("two pages") << qint64(2) << qint64(0);
    QTest::newRow("one page (minimum)") << qint64(1) << qint64(0);
}

// Paging traffic per step against the budget, with copies that lag until waited for
// (StreamCheckBackend): from the second step on every streamed page moves once each way,
// 2·(P - R) pages, where LRU on the optimizer's cyclic walk missed every page, 2·P. The
// first step moves two pages fewer: the windows start holding pages R and R + 1, and page
// P - 1 stays in its window for the next step. Results and state equal the unpaged run's bit
// for bit, and each step still synchronizes the host once.
void TestPaging::pagingTrafficPerBudget() {
    QFETCH(qint64, budgetPages);
    QFETCH(qint64, fixedPages);
    const std::vector<std::int64_t> sizes = {300, 1000, 77, 513, 129};
    constexpr std::int64_t page = 512, pages = 32, steps = 5;
    CpuBackend ref_be;
    ToyParams ref_toy(ref_be, sizes, 11);
    AdamWOptimizer ref_opt(ref_be, ref_toy.params, {});
    test::StreamCheckBackend be;
    ToyParams toy(be, sizes, 11);
    AdamWOptimizer opt(be, toy.params, {}, {page, budgetPages * page});
    QCOMPARE(opt.state().page_count(), pages);
    QCOMPARE(opt.state().fixed_pages(), fixedPages);
    const std::int64_t streamed = 2 * (pages - fixedPages) * page;
    for (int s = 1; s <= steps; ++s) {
        set_grads(ref_be, ref_toy.params, s);
        set_grads(be, toy.params, s);
        QVERIFY(ref_opt.step(1e-2).applied);
        const std::int64_t syncs = be.host_syncs();
        QVERIFY(opt.step(1e-2).applied);
        QCOMPARE(be.host_syncs() - syncs, std::int64_t{1});
        std::int64_t to_device = 0, to_host = 0;
        for (const PagingEvent& e : opt.drain_paging_events()) {
            QCOMPARE(e.step, std::int64_t{s});
            QCOMPARE(e.pages, std::int64_t{1});
            (e.direction == PagingEvent::Direction::ToDevice ? to_device : to_host) += e.bytes;
        }
        QCOMPARE(to_device, to_host);
        // No host wait: with two windows the step returns while the next step's first page
        // (and the write-back it replaces) is still on the copy stream.
        const bool two_windows = fixedPages < pages && budgetPages >= 2;
        QCOMPARE(be.pending_copies(), std::size_t{two_windows ? 2u : 0u});
        const std::int64_t want = s == 1 && streamed > 0 ? streamed - 2 * page : streamed;
        QCOMPARE(to_device + to_host, want);
        if (s == steps) {
            const std::int64_t lru = 2 * pages * page;
            qInfo("budget %lld of %lld pages: %lld fixed, %lld bytes per step (every page missing, as "
                  "under LRU: %lld)",
                  static_cast<long long>(budgetPages), static_cast<long long>(pages),
                  static_cast<long long>(fixedPages), static_cast<long long>(want),
                  static_cast<long long>(lru));
            QCOMPARE(want < lru, fixedPages > 0);
        }
    }
    QVERIFY2(be.hazards().empty(), be.first_hazard().c_str());
    QVERIFY(all_values(be, toy.params) == all_values(ref_be, ref_toy.params));
    QVERIFY(state_bytes(opt) == state_bytes(ref_opt));
}

// Five steps under a 3-page budget, with no budget, and as whole-tensor adamw_step calls:
// the parameters must agree to the bit.
void TestPaging::pagingIsBitIdentical() {
    const std::vector<std::int64_t> sizes = {300, 1000, 77, 513, 129};
    std::vector<std::vector<std::vector<float>>> results;
    std::size_t paged_events = 0;
    for (std::int64_t budget : {std::int64_t{0}, std::int64_t{3 * 512}}) {
        CpuBackend be;
        ToyParams toy(be, sizes, 11);
        AdamWOptimizer opt(be, toy.params, {}, {512, budget});
        for (int s = 1; s <= 5; ++s) {
            set_grads(be, toy.params, s);
            QVERIFY(opt.step(1e-2).applied);
        }
        const std::size_t events = opt.drain_paging_events().size();
        if (budget == 0)
            QCOMPARE(events, std::size_t{0});
        else
            paged_events = events;
        results.push_back(all_values(be, toy.params));
    }
    QVERIFY(paged_events > 10);
    CpuBackend be;
    ToyParams toy(be, sizes, 11);
    std::vector<Buffer> state;
    std::vector<Tensor> grads;
    for (const auto& p : toy.params) {
        state.push_back(be.allocate(2 * p.value.bytes(), Usage::OptimizerState, "m v"));
        be.fill_zero(state.back().whole(DType::U8));
        grads.push_back(p.grad);
    }
    const Buffer control = be.allocate(AdamWOptimizer::kControlBytes, Usage::Workspace, "control");
    for (int s = 1; s <= 5; ++s) {
        set_grads(be, toy.params, s);
        be.clip_grad_norm({grads, {}, 1.0f, 0.3f, control.whole(DType::F32)});
        for (std::size_t i = 0; i < toy.params.size(); ++i) {
            const auto& p = toy.params[i];
            be.adamw_step({p.value, p.grad, state[i].view(0, DType::F32, p.value.shape),
                           state[i].view(p.value.bytes(), DType::F32, p.value.shape), 1e-2f, 0.9f, 0.999f,
                           1e-8f, 0.0f, 1.0f, control.whole(DType::F32), s});
        }
    }
    results.push_back(all_values(be, toy.params));
    QVERIFY(results[0] == results[1]);
    QVERIFY(results[0] == results[2]);
}

QTEST_GUILESS_MAIN(TestPaging)
#include "test_paging.moc"
