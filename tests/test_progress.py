"""Progress bars are drawn only once work has run for a while, starting at the steps already done."""

from __future__ import annotations

import io
import subprocess
import sys
import time

from mscsql.progress import DeferredBar


def test_work_done_before_the_delay_draws_no_bar() -> None:
    out = io.StringIO()
    with DeferredBar(5, "scoring", "pred", delay_s=60, file=out) as bar:
        for _ in range(5):
            bar.update()
    assert not bar.shown and bar.count == 5 and out.getvalue() == ""


def test_the_bar_appears_after_the_delay_with_the_steps_already_done() -> None:
    out = io.StringIO()
    with DeferredBar(10, "scoring", "pred", delay_s=0.05, file=out) as bar:
        bar.update(3)
        assert not bar.shown
        time.sleep(0.06)
        bar.update(2)
        assert bar.shown
        bar.update(5)
    text = out.getvalue()
    assert "scoring" in text and "10/10" in text
    assert "0/10" not in text.replace("10/10", "")  # it started at the 5 steps done, not at zero


def test_a_disabled_bar_never_draws() -> None:
    out = io.StringIO()
    with DeferredBar(2, "x", "y", enabled=False, delay_s=0, file=out) as bar:
        bar.update(2)
    assert not bar.shown and out.getvalue() == ""


def test_quick_work_does_not_import_the_bar_library() -> None:
    code = ("import sys\nfrom mscsql.progress import DeferredBar\n"
            "with DeferredBar(3, 'x', 'y') as bar:\n    bar.update(3)\n"
            "print('tqdm' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_threads_share_one_bar_and_lose_no_step() -> None:
    import threading

    out = io.StringIO()
    bar = DeferredBar(8 * 500, "executing", "stmt", delay_s=0.01, file=out)
    start = threading.Barrier(8)

    def work() -> None:
        start.wait()
        for _ in range(500):
            bar.update()
            time.sleep(0)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert bar.shown and bar.count == 4000 and bar._bar.n == 4000
    bar.close()
    assert out.getvalue().count("executing:") >= 1 and "4000/4000" in out.getvalue()
