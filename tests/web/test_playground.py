"""The playground in a real browser (Debian's Chromium) against a real server and sandbox."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from playwright.sync_api import Browser, WebSocketRoute, expect

from tests.service import REDIS_URL, Server, delete_prefix, server, unique_prefix
from tests.web.browser import Playground, loopback_context

pytestmark = pytest.mark.sandbox

#: The target in docs/playground.md: everything the page loads, gzipped.
PAGE_WEIGHT_LIMIT_BYTES = 500 * 1024


def to_fixed(value: float, digits: int) -> str:
    """What the page shows for `value`: JavaScript's toFixed rounds the float's exact value
    half away from zero, where Python's format rounds half to even (50.25 is "50.3" on the
    page and "50.2" from format)."""
    return str(Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def test_program_reading_stdin_shows_its_output(playground: Playground) -> None:
    page = playground.open().page
    playground.type_code('name = input()\nprint("hello", name.upper())')
    page.fill("#stdin", "world\n")
    playground.editor.click()
    page.keyboard.press("ControlOrMeta+Enter")

    playground.wait_outcome("SUCCESS")
    expect(page.locator("#stdout")).to_have_text("hello WORLD\n")
    expect(page.locator("#stderr")).to_have_text("")
    expect(page.locator("#stat-exit")).to_have_text("exit 0")
    expect(page.locator("#stat-cpu")).to_have_text(re.compile(r"^\d[\d,]* ms$"))
    expect(page.locator("#stat-wall")).to_have_text(re.compile(r"^\d[\d,]* ms$"))
    expect(page.locator("#stat-memory")).to_have_text(re.compile(r"^\d.* (KiB|MiB)$"))
    # followed live: the job's WebSocket, not polling
    expect(page.locator("#job-link")).to_have_attribute("data-transport", "websocket")


def test_infinite_loop_shows_time_limit_exceeded_after_running(
    playground: Playground, web_server: Server
) -> None:
    page = playground.open().page
    playground.type_code("while True: pass")
    page.fill("#cpu", "1000")
    playground.run()

    playground.wait_outcome("TIME_LIMIT_EXCEEDED")
    seen = (page.locator("#status").get_attribute("data-seen") or "").split()
    assert seen[0] == "SUBMITTING"
    assert "RUNNING" in seen  # shown live while the loop spun
    assert seen[-1] == "COMPLETED"
    # the figures are the ones the server measured
    job_id = page.locator("#job-link a").inner_text()
    job = web_server.http.get(f"/jobs/{job_id}").json()
    assert job["limits"]["cpu_time_ms"] == 1000
    usage = job["result"]["usage"]
    expect(page.locator("#stat-cpu")).to_have_text(f"{usage['cpu_time_ms']:,} ms")
    expect(page.locator("#stat-wall")).to_have_text(f"{usage['wall_time_ms']:,} ms")
    result = job["result"]
    end = f"signal {result['signal']}" if result["signal"] else f"exit {result['exit_code']}"
    expect(page.locator("#stat-exit")).to_contain_text(end)


def test_runtime_error_shows_stderr_in_its_own_pane(playground: Playground) -> None:
    page = playground.open().page
    playground.type_code('print("before")\n1 / 0')
    playground.run()
    playground.wait_outcome("RUNTIME_ERROR")
    expect(page.locator("#stdout")).to_have_text("before\n")
    expect(page.locator("#stderr")).to_contain_text("ZeroDivisionError")
    expect(page.locator("#stat-exit")).to_have_text("exit 1")


def test_output_cut_at_the_limit_is_noted(playground: Playground) -> None:
    page = playground.open().page
    playground.type_code('print("x" * 100_000)')
    playground.run()
    playground.wait_outcome("OUTPUT_LIMIT_EXCEEDED")
    expect(page.locator("#cut-note")).to_be_visible()
    expect(page.locator("#cut-note")).to_contain_text("64 KiB")
    box = page.locator("#stdout").bounding_box()
    assert box is not None and box["height"] < 600  # long output scrolls in its pane


def test_judge_run_marks_the_wrong_case_on_its_row(playground: Playground) -> None:
    page = playground.open().page
    playground.type_code("print(int(input()) * 2)")
    playground.remove_all_cases()
    playground.add_case("1\n", "2\n", name="one")
    playground.add_case("2\n", "5\n", name="two")
    playground.add_case("3\n", "6\n", name="three")
    playground.run_tests()

    playground.wait_outcome("WRONG_ANSWER")
    expect(playground.row(1)).to_have_attribute("data-verdict", "ACCEPTED")
    expect(playground.row(2)).to_have_attribute("data-verdict", "WRONG_ANSWER")
    expect(playground.row(3)).to_have_attribute("data-verdict", "ACCEPTED")
    expect(playground.row(2).locator(".verdict")).to_have_text("WRONG_ANSWER")
    expect(playground.row(2).locator(".name")).to_have_text("two")
    expect(playground.row(2).locator(".diff")).to_contain_text("expected '5', got '4'")
    expect(playground.row(1).locator(".diff")).to_have_count(0)
    expect(page.locator("#judge-summary")).to_contain_text("2 of 3 passed")
    expect(page.locator("#judge-summary")).to_contain_text("score 66.7 / 100")
    expect(page.locator("#progress")).to_have_attribute("data-done", "3")
    expect(page.locator("#progress")).to_have_attribute("data-total", "3")


def test_hidden_case_shows_only_its_verdict(playground: Playground) -> None:
    page = playground.open().page
    playground.type_code("print(input())")
    playground.remove_all_cases()
    playground.add_case("a\n", "a\n", name="open")
    playground.add_case("b\n", "b\n", name="secret")
    playground.case(2).locator("[data-field=hidden]").check()
    playground.run_tests()
    playground.wait_outcome("ACCEPTED")
    expect(playground.row(2).locator(".details")).to_contain_text("hidden case")
    expect(page.locator("#judge-summary")).to_contain_text("score 100 / 100")


def test_a_checker_program_and_subtasks_show_each_subtask_and_the_checkers_message(
    playground: Playground,
) -> None:
    page = playground.open().page
    playground.type_code("print(input())")
    playground.remove_all_cases()
    playground.add_case("1\n", "1\n", name="one")
    playground.add_case("2\n", "3\n", name="two")
    playground.add_case("4\n", "4\n", name="four")
    page.select_option("#checker", "program")  # the checker editor holds an example checker
    expect(page.locator("#checker-editor .cm-content")).to_contain_text("sys.argv[1:4]")
    for name, points, cases, needs in (("first", "40", "1", ""), ("rest", "60", "2-3", "first")):
        page.click("#add-subtask")
        subtask = page.locator("#subtasks > li").last
        subtask.locator("[data-field=name]").fill(name)
        subtask.locator("[data-field=points]").fill(points)
        subtask.locator("[data-field=cases]").fill(cases)
        subtask.locator("[data-field=depends_on]").fill(needs)
    playground.run_tests()

    playground.wait_outcome("WRONG_ANSWER")
    expect(playground.row(2).locator(".message")).to_have_text("wrong answer expected '3', got '2'")
    first = page.locator("#subtask-rows tr[data-subtask=first]")
    rest = page.locator("#subtask-rows tr[data-subtask=rest]")
    expect(first).to_have_attribute("data-verdict", "ACCEPTED")
    expect(first.locator(".score")).to_have_text("40 / 40")
    expect(rest).to_have_attribute("data-verdict", "WRONG_ANSWER")
    expect(rest.locator(".details")).to_have_text("#2 wrong answer · #3 skipped")
    expect(page.locator("#judge-summary")).to_contain_text("score 40 / 100")


def test_share_link_restores_code_stdin_language_and_tests(
    browser: Browser, web_server: Server, playground: Playground
) -> None:
    page = playground.open().page
    code = "a, b = map(int, input().split())\nprint(a + b)"
    playground.type_code(code)
    page.fill("#stdin", "2 3\n")
    page.fill("#cpu", "1500")
    languages = page.locator("#language option").evaluate_all("os => os.map(o => o.value)")
    assert "pypy" in languages  # scripts/setup installs it: a Python that is not the default
    language = "pypy"
    page.select_option("#language", language)
    playground.remove_all_cases()
    playground.add_case("4 5\n", "9\n", name="nine")
    page.click("#share")
    expect(page.locator("#share-dialog")).to_be_visible()
    link = page.locator("#share-link").input_value()
    assert link.startswith(web_server.url + "/#s=")
    page.keyboard.press("Escape")

    # Someone else, with nothing stored, opens the link.
    with loopback_context(browser, web_server.url) as other:
        shared = Playground(other.new_page(), link).open(link)
        assert shared.code == code
        expect(shared.page.locator("#stdin")).to_have_value("2 3\n")
        expect(shared.page.locator("#cpu")).to_have_value("1500")
        expect(shared.page.locator("#language")).to_have_value(language)
        expect(shared.page.locator("#cases > li")).to_have_count(1)
        expect(shared.case(1).locator("[data-field=name]")).to_have_value("nine")
        expect(shared.case(1).locator("[data-field=stdin]")).to_have_value("4 5\n")
        expect(shared.case(1).locator("[data-field=expected_stdout]")).to_have_value("9\n")
        expect(shared.page.locator("#notice")).to_contain_text("Opened from a share link")
        assert "#" not in shared.page.url  # the draft holds it now; the link is not kept
        shared.run_tests()
        shared.wait_outcome("ACCEPTED")
        assert shared.errors == []


def test_draft_survives_a_reload(playground: Playground) -> None:
    page = playground.open().page
    playground.type_code('print("draft")')
    page.fill("#stdin", "kept\n")
    page.fill("#memory", "64")
    playground.add_case("x\n", "y\n", name="mine")
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    assert playground.code == 'print("draft")'
    playground.editor.click()
    page.keyboard.press("ControlOrMeta+z")  # loading the draft is not an edit to undo
    assert playground.code == 'print("draft")'
    expect(page.locator("#stdin")).to_have_value("kept\n")
    expect(page.locator("#memory")).to_have_value("64")
    expect(page.locator("#cases > li")).to_have_count(3)  # the two examples and mine
    expect(playground.case(3).locator("[data-field=name]")).to_have_value("mine")


def test_limit_above_the_maximum_shows_the_servers_422_at_the_field(
    playground: Playground,
) -> None:
    page = playground.open().page
    expect(page.locator("#memory-hint")).to_have_text("default 128, max 1,024")
    page.fill("#memory", "4096")
    playground.run()
    alert = page.locator("#alert")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("limits.memory_mb: must be at most 1024")
    expect(page.locator("#memory")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#memory-error")).to_contain_text("must be at most 1024")
    expect(page.locator("#memory")).to_be_focused()
    expect(page.locator("#status")).to_have_attribute("data-status", "NOT_STARTED")
    expect(playground.badge).to_be_hidden()


def test_lost_websocket_falls_back_to_polling(playground: Playground) -> None:
    page = playground.page

    def drop(ws: WebSocketRoute) -> None:
        ws.close(code=1006, reason="dropped by the test")  # as a proxy or network would

    page.route_web_socket(re.compile(r"/jobs/[^/]+/(events|session)$"), drop)
    playground.open()
    playground.type_code('import time; time.sleep(0.5); print("polled")')
    playground.run()
    playground.wait_outcome("SUCCESS")
    expect(page.locator("#stdout")).to_have_text("polled\n")
    expect(page.locator("#job-link")).to_have_attribute("data-transport", "polling")
    expect(page.locator("#job-link")).to_contain_text("followed by polling")


def test_a_program_asks_for_a_name_and_greets_the_person_who_types_it(
    playground: Playground,
) -> None:
    page = playground.open().page
    playground.type_code('name = input("What is your name? ")\nprint(f"Hello, {name}!")')
    page.fill("#stdin", "")  # no stdin given: input() waits for the person
    playground.run()
    terminal = page.locator("#terminal")
    expect(terminal).to_have_text("What is your name? ")
    expect(page.locator("#status")).to_have_attribute("data-status", "RUNNING")
    page.fill("#term-input", "Ada")
    page.press("#term-input", "Enter")
    expect(terminal).to_have_text("What is your name? Ada\nHello, Ada!\n")
    playground.wait_outcome("SUCCESS")
    expect(page.locator("#stdout")).to_have_text("What is your name? Hello, Ada!\n")
    expect(page.locator("#term-input")).to_be_disabled()
    assert playground.errors == []


def test_output_shows_as_it_is_printed_before_the_program_ends(playground: Playground) -> None:
    page = playground.open().page
    playground.type_code(
        "import time\nfor i in range(6):\n    print('line', i, flush=True)\n    time.sleep(1)"
    )
    page.fill("#stdin", "")
    playground.run()
    expect(page.locator("#terminal")).to_contain_text("line 0")
    # the first line is on the page while the program still runs (it sleeps 5 s more)
    expect(page.locator("#status")).to_have_attribute("data-status", "RUNNING")
    assert "line 5" not in page.locator("#terminal").inner_text()
    playground.wait_outcome("SUCCESS")
    expect(page.locator("#terminal")).to_contain_text("line 5")


def test_busy_server_says_so_and_offers_a_retry(browser: Browser) -> None:
    with server(workers=0, env={"ONPYRUNNER_MAX_PENDING_JOBS": "1"}) as busy:
        assert busy.submit({"source_code": "print(1)"}).status_code == 202  # fills the queue
        with loopback_context(browser, busy.url) as context:
            playground = Playground(context.new_page(), busy.url + "/").open()
            # no worker is up: the page says jobs wait, and still offers python
            expect(playground.page.locator("#language-note")).to_contain_text("No worker")
            playground.run()
            alert = playground.page.locator("#alert")
            expect(alert).to_contain_text("The server is busy")
            expect(alert).to_contain_text("try again in 2 s")
            expect(playground.page.locator("#alert-retry")).to_be_visible()
            assert playground.errors == []


def test_cancel_stops_a_running_job(playground: Playground) -> None:
    page = playground.open().page
    playground.type_code("import time; time.sleep(20)")
    page.fill("#cpu", "1000")
    playground.run()
    expect(page.locator("#status")).to_have_attribute("data-status", "RUNNING")
    page.click("#cancel")
    playground.wait_outcome("CANCELLED")
    expect(page.locator("#run")).to_be_enabled()


def test_keyboard_alone_edits_indents_leaves_the_editor_and_runs(playground: Playground) -> None:
    page = playground.open().page
    playground.editor.focus()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("for c in input():\nprint(c)")  # the editor indents the body itself
    assert playground.code == "for c in input():\n    print(c)"
    page.keyboard.press("Home")
    page.keyboard.press("Tab")  # Tab indents inside the editor
    assert playground.code == "for c in input():\n        print(c)"
    page.keyboard.press("ControlOrMeta+z")  # undo
    assert playground.code == "for c in input():\n    print(c)"
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")  # Escape then Tab leaves it
    expect(page.locator("#stdin")).to_be_focused()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type("ab")
    page.keyboard.press("ControlOrMeta+Enter")
    playground.wait_outcome("SUCCESS")
    expect(page.locator("#stdout")).to_have_text("a\nb\n")


def test_fits_a_phone_screen_and_follows_the_dark_scheme(
    browser: Browser, web_server: Server
) -> None:
    phone: dict[str, Any] = {
        "viewport": {"width": 375, "height": 740},
        "color_scheme": "dark",
        "is_mobile": True,
        "has_touch": True,
    }
    with loopback_context(browser, web_server.url, **phone) as context:
        playground = Playground(context.new_page(), web_server.url + "/").open()
        page = playground.page
        playground.run()
        playground.wait_outcome("SUCCESS")
        overflow = page.evaluate("document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 0, f"the page is {overflow} px wider than the screen"
        background = page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
        red, green, blue = (int(v) for v in re.findall(r"\d+", background)[:3])
        assert red + green + blue < 3 * 64, f"not a dark background: {background}"
        assert playground.errors == []


def test_page_loads_nothing_but_its_own_origin_within_the_weight_target(
    browser: Browser, web_server: Server
) -> None:
    with loopback_context(browser, web_server.url) as context:
        page = context.new_page()
        loaded: list[Any] = []
        page.on("requestfinished", lambda request: loaded.append(request))
        Playground(page, web_server.url + "/").open()
        page.wait_for_load_state("networkidle")
        urls = [r.url for r in loaded]
        assert all(u.startswith(web_server.url) for u in urls), urls
        assert any(u.endswith(".js") for u in urls) and any(u.endswith(".css") for u in urls)
        total = sum(r.sizes()["responseBodySize"] for r in loaded)
        assert 0 < total < PAGE_WEIGHT_LIMIT_BYTES, f"{total} bytes over the wire"


def test_redis_setup_serves_the_same_page(browser: Browser) -> None:
    prefix = unique_prefix()
    try:
        with (
            server(redis_url=REDIS_URL, workers=1, env={"ONPYRUNNER_REDIS_PREFIX": prefix}) as api,
            loopback_context(browser, api.url) as context,
        ):
            playground = Playground(context.new_page(), api.url + "/").open()
            playground.type_code("print(6 * 7)")
            playground.run()
            playground.wait_outcome("SUCCESS")
            expect(playground.page.locator("#stdout")).to_have_text("42\n")
            assert playground.errors == []
    finally:
        delete_prefix(REDIS_URL, prefix)


def test_performance_against_a_reference_shows_the_score_and_each_case(
    playground: Playground, web_server: Server
) -> None:
    page = playground.open().page
    playground.paste_code("n = int(input())\nprint(sum(range(n + 1)))\n")
    playground.remove_all_cases()
    playground.add_case("100\n", "5050\n", name="hundred")
    playground.add_case("3\n", "6\n")
    page.check("#perf-on")
    page.fill("#perf-code", "n = int(input())\nprint(n * (n + 1) // 2)\n")
    page.fill("#perf-repeat", "2")
    playground.run_tests()

    playground.wait_outcome("ACCEPTED")
    # the progress counted the performance runs: 2 cases, then 2 cases x 2 runs x 2 programs
    expect(page.locator("#progress")).to_have_attribute("data-total", "10")
    expect(page.locator("#progress")).to_have_attribute("data-done", "10")
    view = page.locator("#perf-view")
    expect(view).to_be_visible()
    expect(view).to_have_attribute("data-basis", "REFERENCE")
    job_id = page.locator("#job-link a").inner_text()
    result = web_server.http.get(f"/jobs/{job_id}").json()["result"]
    score = result["performance_score"]
    assert 0 < score < 100
    summary = page.locator("#perf-summary")
    expect(summary).to_contain_text(f"Performance score {to_fixed(score, 1)} / 100")
    expect(summary).to_contain_text("against the reference")
    rows = page.locator("#perf-rows tr")
    expect(rows).to_have_count(2)
    first = result["performance"]["cases"][0]
    expect(rows.nth(0).locator(".name")).to_have_text("hundred")
    cells = rows.nth(0).locator("td")
    expect(cells.nth(2)).to_have_text(re.compile(r"^\d[\d,.]* ms$"))  # the submission's CPU
    expect(cells.nth(3)).to_have_text(re.compile(r"^\d[\d,.]* ms$"))  # the reference's
    expect(cells.nth(4)).to_have_text(re.compile(r"^×\d[\d.]*×\d[\d.]*–×\d[\d.]*$"))
    expect(rows.nth(0).locator(".score")).to_have_text(to_fixed(first["score"], 1))
    expect(page.locator("#perf-view th[data-figure=cpu]")).to_have_text("Reference CPU")


def test_a_wrong_submission_shows_why_it_has_no_performance_score(
    playground: Playground,
) -> None:
    page = playground.open().page
    playground.paste_code("print(int(input()) + 1)\n")
    playground.remove_all_cases()
    playground.add_case("1\n", "3\n", name="off")
    page.check("#perf-on")  # no reference: against the limits
    playground.run_tests()
    playground.wait_outcome("WRONG_ANSWER")
    view = page.locator("#perf-view")
    expect(view).to_be_visible()
    expect(view).to_have_attribute("data-basis", "LIMITS")
    expect(view).to_have_attribute("data-score", "")
    expect(page.locator("#perf-summary")).to_contain_text("No performance score")
    expect(page.locator("#perf-summary")).to_contain_text("the submission on case 0")
    expect(page.locator("#perf-rows tr")).to_have_count(0)


def test_a_repeat_above_the_maximum_shows_the_422_at_its_field(playground: Playground) -> None:
    page = playground.open().page
    page.check("#perf-on")
    expect(page.locator("#perf-repeat-hint")).to_have_text("default 5, max 20")
    page.fill("#perf-repeat", "21")
    playground.run_tests()
    expect(page.locator("#alert")).to_contain_text("performance.repeat: must be at most 20")
    expect(page.locator("#perf-repeat")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#perf-repeat")).to_be_focused()


def test_performance_settings_are_kept_in_the_draft(playground: Playground) -> None:
    page = playground.open().page
    expect(page.locator("#perf-fields")).to_be_hidden()
    page.check("#perf-on")
    page.fill("#perf-code", "print('reference')")
    page.fill("#perf-repeat", "3")
    page.select_option("#perf-language", "pypy")
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-ready", "true")
    expect(page.locator("#perf-on")).to_be_checked()
    expect(page.locator("#perf-fields")).to_be_visible()
    expect(page.locator("#perf-code")).to_have_value("print('reference')")
    expect(page.locator("#perf-repeat")).to_have_value("3")
    expect(page.locator("#perf-language")).to_have_value("pypy")
