"""Tests for the offline rule-based reviewer (``builtin:rules``)."""

from __future__ import annotations

import dataclasses
import textwrap

import pytest

from pytest_aicr.rules import RuleFinding, infer_language, review_change


def found(
    code: str, language: str | None, file: str | None = None
) -> list[tuple[int | None, str]]:
    """(line, category) of every finding, in output order."""
    return [(f.line, f.category) for f in review_change(code, language, file)]


def snippet(text: str) -> str:
    return textwrap.dedent(text).strip("\n") + "\n"


# --- public types -----------------------------------------------------------------


def test_finding_is_frozen_with_expected_fields() -> None:
    finding = review_change("print(x)\n", "python")[0]
    assert finding == RuleFinding(
        comment=finding.comment, line=1, severity="minor", category="debug-output"
    )
    assert [f.name for f in dataclasses.fields(RuleFinding)] == [
        "comment",
        "line",
        "severity",
        "category",
    ]
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.line = 2  # type: ignore[misc]


def test_empty_change_has_no_findings() -> None:
    assert review_change("", "python") == []
    assert review_change("\n\n", None) == []


# --- diff parsing and line numbers ------------------------------------------------


def test_line_numbers_come_from_the_hunk_header() -> None:
    code = snippet(
        """
        @@ -10,4 +10,5 @@ def run():
             a = 1
        -    b = 2
        +    b = 3
        +    print(b)
             return b
        """
    )
    assert found(code, "python") == [(12, "debug-output")]


def test_line_numbers_across_two_hunks() -> None:
    code = snippet(
        """
        @@ -1,2 +1,2 @@
         import os
        -x = 1
        +print(os)
        @@ -40,3 +40,3 @@ def f():
             y = 2
        -    z = 3
        +    y += 1  # TODO: drop this
        """
    )
    assert found(code, "python") == [(2, "debug-output"), (41, "todo")]


def test_removed_and_context_lines_are_ignored() -> None:
    code = snippet(
        """
        @@ -1,3 +1,2 @@
         print("context")
        -print("removed")  # TODO: removed
         x = 1  # TODO: context
        """
    )
    assert found(code, "python") == []


def test_snippet_without_diff_markers_counts_every_line_as_added() -> None:
    code = snippet(
        """
        def f():
            x = 1
            print(x)
            return x  # FIXME: wrong
        """
    )
    assert found(code, "python") == [(3, "debug-output"), (4, "todo")]


def test_hunk_without_header_is_numbered_from_one_on_the_new_side() -> None:
    code = snippet(
        """
         a = 1
        -b = 2
        +print(a)
        """
    )
    assert found(code, "python") == [(2, "debug-output")]


def test_file_headers_are_not_lines_and_give_the_language() -> None:
    code = snippet(
        """
        diff --git a/pkg/mod.py b/pkg/mod.py
        index 83db48f..bf269f4 100644
        --- a/pkg/mod.py
        +++ b/pkg/mod.py
        @@ -3,2 +3,3 @@
         a = 1
        +print(a)
        """
    )
    assert found(code, None) == [(4, "debug-output")]


def test_no_newline_marker_is_ignored() -> None:
    code = "@@ -1 +1 @@\n-x = 1\n+print(1)\n\\ No newline at end of file\n"
    assert found(code, "python") == [(1, "debug-output")]


def test_findings_are_ordered_by_line_then_rule() -> None:
    code = snippet(
        """
        x = 1  # TODO: later
        print(x)  # TODO: now
        """
    )
    assert found(code, "python") == [
        (1, "todo"),
        (2, "debug-output"),
        (2, "todo"),
    ]


def test_at_most_one_finding_per_rule_per_line() -> None:
    assert found("print(a); print(b)\n", "python") == [(1, "debug-output")]
    java = "System.out.println(a); e.printStackTrace();\n"
    assert found(java, "java") == [(1, "debug-output")]


def test_review_is_deterministic() -> None:
    code = "print(x)  # TODO: y\nfrom os import *\n"
    assert review_change(code, "python") == review_change(code, "python")


# --- language inference -----------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "file", "expected"),
    [
        ("", "src/app.py", "python"),
        ("", "Main.java", "java"),
        ("", "web/index.JS", "javascript"),
        ("", "a/b.tsx", "typescript"),
        ("", "cmd/main.go", "go"),
        ("", "README", None),
        ("--- a/x/y.go\n+++ b/x/y.go\n@@ -1 +1 @@\n", None, "go"),
        ("--- a/Foo.java\n+++ b/Foo.java\n", "notes.txt", "java"),
        ("--- a/old.py\n+++ /dev/null\n", None, None),
        ("x = 1\n", None, None),
    ],
)
def test_infer_language(code: str, file: str | None, expected: str | None) -> None:
    assert infer_language(code, file) == expected


def test_language_is_inferred_from_file_when_not_given() -> None:
    assert found("print(x)\n", None, "tool.py") == [(1, "debug-output")]


def test_unknown_language_runs_only_neutral_rules() -> None:
    code = "print(x)  # TODO: drop\n"
    assert found(code, None) == [(1, "todo")]


@pytest.mark.parametrize("language", ["Python", "py", " python3 "])
def test_language_aliases(language: str) -> None:
    assert found("print(x)\n", language) == [(1, "debug-output")]


# --- debug output and debugger ----------------------------------------------------


def test_python_print_is_debug_output() -> None:
    [finding] = review_change("    print(value)\n", "python")
    assert finding.category == "debug-output"
    assert finding.severity == "minor"
    assert "logger" in finding.comment


@pytest.mark.parametrize(
    "line",
    [
        'msg = "print(x)"',
        "# print(x) explains the call",
        "self.printer.print(x)",
        "def print(self, x):",
        "print(line, file=sys.stderr)",
        "blueprint(x)",
    ],
)
def test_python_print_negatives(line: str) -> None:
    assert "debug-output" not in [c for _, c in found(line + "\n", "python")]


def test_java_debug_output() -> None:
    code = snippet(
        """
        System.out.println("here");
        System.err.printf("%s", x);
        e.printStackTrace();
        LOG.info("fine");
        """
    )
    [finding] = review_change(code, "java")
    assert (finding.line, finding.category) == (1, "debug-output")
    assert finding.comment.endswith("The same applies to lines 2, 3.")


def test_javascript_console_log() -> None:
    code = "console.log(user);\nconsole.error(err);\n"
    assert found(code, "javascript") == [(1, "debug-output")]
    assert found(code, "typescript") == [(1, "debug-output")]


def test_debugger_statements() -> None:
    assert found("breakpoint()\nimport pdb; pdb.set_trace()\n", "python") == [
        (1, "debugger"),
        (2, "debugger"),
    ]
    assert found("  debugger;\n", "javascript") == [(1, "debugger")]
    assert found('log("debugger;")\nset_breakpoint()\n', "python") == []


# --- exception handling -----------------------------------------------------------


def test_python_swallowed_broad_except() -> None:
    code = snippet(
        """
        try:
            run()
        except Exception:
            pass
        try:
            run()
        except:
            pass
        """
    )
    assert found(code, "python") == [(3, "broad-except"), (7, "broad-except")]
    bare = review_change(code, "python")[1]
    assert bare.severity == "major"
    assert "`except:`" in bare.comment
    assert "KeyboardInterrupt" in bare.comment


def test_python_one_line_swallowed_except() -> None:
    assert found("except Exception as e: pass\n", "python") == [(1, "broad-except")]


@pytest.mark.parametrize(
    "handler",
    [
        "except ValueError:\n    pass\n",
        "except Exception:\n    log.exception('failed')\n",
        "except Exception:  # noqa: BLE001\n    pass\n",
    ],
)
def test_python_except_negatives(handler: str) -> None:
    code = "try:\n    run()\n" + handler
    assert found(code, "python") == []


def test_python_except_whose_body_is_not_shown_is_skipped() -> None:
    assert found("try:\n    run()\nexcept Exception:\n", "python") == []


def test_python_bare_except_that_handles_is_broad_catch() -> None:
    code = "try:\n    run()\nexcept:\n    log.error('x')\n"
    assert found(code, "python") == [(3, "broad-catch")]
    reraise = "try:\n    run()\nexcept:\n    cleanup()\n    raise\n"
    assert found(reraise, "python") == []


def test_java_empty_broad_catch() -> None:
    code = snippet(
        """
        try {
          run();
        } catch (Exception e) {
        }
        try { run(); } catch (final Throwable t) { /* ignore */ }
        try {
          run();
        } catch (IOException | RuntimeException e) {
          // nothing to do
        }
        """
    )
    assert found(code, "java") == [(3, "broad-except"), (5, "broad-except")]
    assert "`catch (Exception e)`" in review_change(code, "java")[0].comment


def test_java_empty_specific_catch_is_not_broad() -> None:
    code = "try {\n  run();\n} catch (IOException e) {\n}\n"
    assert found(code, "java") == []


def test_java_handled_broad_catch() -> None:
    code = snippet(
        """
        try {
          run();
        } catch (Exception ex) {
          LOG.warn("failed", ex);
          ok = false;
        }
        """
    )
    assert found(code, "java") == [(3, "broad-catch")]
    wrapped = code.replace("ok = false;", "throw new IllegalStateException(ex);")
    assert found(wrapped, "java") == []


def test_java_catch_cut_off_by_the_hunk_is_skipped() -> None:
    code = "try {\n  run();\n} catch (Exception e) {\n  LOG.warn(e);\n"
    assert found(code, "java") == []


def test_java_new_exception_without_cause() -> None:
    code = snippet(
        """
        try {
          read();
        } catch (IOException e) {
          throw new IllegalStateException("read failed");
        }
        """
    )
    assert found(code, "java") == [(4, "lost-exception-cause")]
    comment = review_change(code, "java")[0].comment
    assert "`e`" in comment
    assert "IllegalStateException" in comment
    with_cause = code.replace('"read failed")', '"read failed", e)')
    assert found(with_cause, "java") == []
    outside = 'if (x) {\n  throw new IllegalStateException("bad");\n}\n'
    assert found(outside, "java") == []


def test_java_cause_passed_on_a_later_line_counts() -> None:
    code = snippet(
        """
        } catch (IOException e) {
          throw new IllegalStateException(
              "read failed", e);
        }
        """
    )
    assert found(code, "java") == []


def test_python_raise_in_except_without_from() -> None:
    code = snippet(
        """
        try:
            value = int(text)
        except ValueError as err:
            if strict:
                raise ConfigError("not a number")
            value = 0
        """
    )
    assert found(code, "python") == [(5, "lost-exception-cause")]
    assert "from err" in review_change(code, "python")[0].comment
    chained = code.replace('number")', 'number") from err')
    assert found(chained, "python") == []


def test_python_raise_outside_except_or_reraise_is_fine() -> None:
    code = snippet(
        """
        def f(x):
            if x:
                raise ValueError("x")
            try:
                g()
            except KeyError:
                raise
        """
    )
    assert found(code, "python") == []


# --- TODO and commented-out code -------------------------------------------------


def test_todo_fixme_xxx_in_comments() -> None:
    code = snippet(
        """
        a = 1  # TODO: handle the empty case
        b = 2  # FIXME
        // XXX(bob) racy
        """
    )
    findings = review_change(code, "python")
    assert [(f.line, f.category) for f in findings] == [(1, "todo"), (2, "todo")]
    assert '"handle the empty case"' in findings[0].comment
    assert findings[0].severity == "info"
    assert found("  /* TODO: check bounds */\n", "java") == [(1, "todo")]
    assert found("// XXX(bob) racy\n", "java") == [(1, "todo")]


def test_todo_negatives() -> None:
    code = 'label = "TODO list"\n# todos are tracked elsewhere\n'
    assert found(code, "python") == []


def test_todo_inside_a_java_block_comment() -> None:
    code = "/**\n * Parses the input.\n * TODO: support streams\n */\n"
    assert found(code, "java") == [(3, "todo")]


def test_python_commented_out_code_block_is_one_finding() -> None:
    code = snippet(
        """
        x = compute()
        # result = transform(x)
        # if result:
        #     save(result)
        return x
        """
    )
    assert found(code, "python") == [(2, "commented-out-code")]
    assert "These 3 lines" in review_change(code, "python")[0].comment


@pytest.mark.parametrize(
    "comment",
    [
        "# Just print the event that was passed in",
        "# noqa: E501",
        "# pylint: disable=unused-variable",
        "# type: ignore[attr-defined]",
        "# Example:",
        "# Deprecated",
        "# DISTINCT (optional)",
        "#     indented_example(call)",
        "#!/usr/bin/env python",
        "# scapy.contrib.status = loads",
    ],
)
def test_python_comments_that_are_not_code(comment: str) -> None:
    assert found(comment + "\n", "python") == []


def test_java_commented_out_code() -> None:
    code = snippet(
        """
        // cache.clear();
        // Returns the value (or null if missing).
        // See {@link Foo#bar()}
        int x = 1; // trailing note();
        """
    )
    assert found(code, "java") == [(1, "commented-out-code")]
    assert found("// the order matters here;\n", "java") == []


# --- secrets ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "language"),
    [
        ('password = "hunter22"', "python"),
        ('    api_key: str = "AKIA1234567890"', "python"),
        ('DB = {"secret": "s3cr3t-v4lue"}', "python"),
        ('private static final String authToken = "ghp_x1y2z3";', "java"),
        ('db_password: "letmein1"', None),
    ],
)
def test_hardcoded_secret(line: str, language: str | None) -> None:
    [finding] = review_change(line + "\n", language)
    assert (finding.category, finding.severity) == ("hardcoded-secret", "major")


@pytest.mark.parametrize(
    "line",
    [
        'password = os.environ["DB_PASSWORD"]',
        'PASSWORD_KEY = "password"',
        'TOKEN_HEADER = "X-Auth-Token"',
        'token = ""',
        'password = "${DB_PASSWORD}"',
        'api_key = "hf_..."',
        'pad_token = "[PAD]"',
        'password = "x"',
        'if password == "hunter22": pass',
    ],
)
def test_not_a_hardcoded_secret(line: str) -> None:
    assert found(line + "\n", "python") == []


def test_secrets_in_tests_are_fixtures() -> None:
    assert found('password = "hunter22"\n', "python", "tests/test_login.py") == []
    code = 'def test_login():\n    login(password="hunter22")\n'
    assert found(code, "python") == []


# --- python specifics -------------------------------------------------------------


def test_none_comparison() -> None:
    code = "if x == None:\n    pass\nif None != y:\n    pass\nif x is None:\n    pass\n"
    [finding] = review_change(code, "python")
    assert (finding.line, finding.category) == (1, "none-comparison")
    assert finding.comment.endswith("The same applies to line 3.")


def test_literal_identity() -> None:
    code = snippet(
        """
        if kind is "file":
            pass
        if n is not 0:
            pass
        if x is None:
            pass
        """
    )
    assert found(code, "python") == [(1, "literal-identity"), (3, "literal-identity")]


def test_mutable_default_arguments() -> None:
    code = snippet(
        """
        def f(a, b=[], c: dict[str, int] = {}, d=None):
            pass
        def g(
            x,
            seen=set(),
        ):
            call(y=[])
        def h(a=None, b=(), c="[]"):
            pass
        """
    )
    assert found(code, "python") == [(1, "mutable-default"), (5, "mutable-default")]
    assert "(`b`, `c`)" in review_change(code, "python")[0].comment


def test_python_wildcard_import() -> None:
    code = "from scapy.layers.dot11 import *\nfrom os import path\nfrom . import *\n"
    assert found(code, "python") == [(1, "wildcard-import")]
    assert "`scapy.layers.dot11`" in review_change(code, "python")[0].comment


def test_bare_noqa_is_a_lint_suppression() -> None:
    code = "import os  # noqa\nimport sys  # noqa: F401\n"
    assert found(code, "python") == [(1, "lint-suppression")]


def test_python_sleep_only_flagged_in_tests() -> None:
    code = "import time\ntime.sleep(1)\n"
    assert found(code, "python") == []
    assert found(code, "python", "tests/test_worker.py") == [(2, "sleep-in-test")]
    in_test = "def test_worker():\n    start()\n    time.sleep(0.5)\n"
    assert found(in_test, "python") == [(3, "sleep-in-test")]


def test_python_docstring_contents_are_not_code() -> None:
    code = snippet(
        '''
        def f():
            """Example.

            print(x)  # TODO: not a real todo
            """
            return 1
        '''
    )
    assert found(code, "python") == []


def test_superfluous_parens_around_a_single_import() -> None:
    code = snippet(
        """
        from pyramid.httpexceptions import (HTTPNotFound)
        from pyramid.httpexceptions import (HTTPNotFound, HTTPForbidden)
        from pyramid.httpexceptions import HTTPNotFound
        """
    )
    assert found(code, "python") == [(1, "superfluous-parens")]


# --- breaking changes -------------------------------------------------------------


def test_parameter_inserted_before_existing_ones() -> None:
    code = snippet(
        """
        @@ -648,3 +648,3 @@ def log(package):
        -def push(package, is_public=False, reupload=False):
        +def push(package, hash=None, is_public=False, reupload=False):
             \"\"\"Push a package.\"\"\"
        """
    )
    [finding] = review_change(code, "python")
    assert (finding.line, finding.category) == (648, "breaking-change")
    assert finding.severity == "major"
    assert "`hash` is added before `is_public`" in finding.comment


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (
            "def push(package, force=False):",
            "def push(package, force=False, tag=None):",
        ),
        (
            "def push(package, *, force=False):",
            "def push(package, *, tag=None, force=False):",
        ),
        (
            "def _push(package, force=False):",
            "def _push(package, tag=None, force=False):",
        ),
        ("def push(package, force=False):", "def push(package, force=True):"),
    ],
)
def test_signature_changes_that_keep_callers_working(old: str, new: str) -> None:
    code = f"@@ -1,1 +1,1 @@\n-{old}\n+{new}\n     pass\n"
    assert found(code, "python") == []


def test_parameter_lines_inserted_into_a_multi_line_header() -> None:
    code = snippet(
        """
        @@ -25,4 +25,6 @@ class BasicBlock(nn.Module):
                          norm_cfg=dict(type='BN'),
                          dcn=None,
        +                 rfp_inplanes=None,
        +                 sac=None,
                          plugins=None):
                 super().__init__()
        """
    )
    [finding] = review_change(code, "python")
    assert (finding.line, finding.category) == (27, "breaking-change")
    assert "`rfp_inplanes`, `sac` are added before `plugins`" in finding.comment


def test_parameter_line_appended_or_in_a_call_is_fine() -> None:
    appended = snippet(
        """
        @@ -1,3 +1,4 @@
         def run(a,
        -        b=None):
        +        b=None,
        +        c=None):
        """
    )
    assert found(appended, "python") == []
    call = snippet(
        """
        @@ -77,3 +77,4 @@ def launch():
             env = dict(REGISTRY_URL="http://localhost:5000",
                        ALWAYS_REQUIRE_AUTH="false",
        +               NO_DOWNLOAD="false",
                        CATALOG_MODE="LOCAL")
        """
    )
    assert found(call, "python") == []
    keyword_only = snippet(
        """
        @@ -1,3 +1,4 @@
         def run(a, *,
                 b=None,
        +        c=None,
                 d=None):
        """
    )
    assert found(keyword_only, "python") == []


def test_renamed_parameter_and_function() -> None:
    code = snippet(
        """
        @@ -40,2 +40,2 @@ class InputDevice(object):
        -    def create_pause(self, duraton=0):
        +    def create_pause(self, duration=0):
                 pass
        """
    )
    [finding] = review_change(code, "python")
    assert (finding.line, finding.category) == (40, "breaking-change")
    assert "`duraton` to `duration`" in finding.comment
    renamed = "-def fetch(url):\n+def download(url):\n     pass\n"
    assert found(renamed, "python") == [(1, "breaking-change")]


def test_java_public_api_narrowed_or_renamed() -> None:
    narrowed = snippet(
        """
        @@ -97,3 +97,3 @@ public abstract class Analyzer implements Closeable {
        -  public Analyzer() {
        +  protected Analyzer() {
             this(GLOBAL_REUSE_STRATEGY);
        """
    )
    [finding] = review_change(narrowed, "java")
    assert (finding.line, finding.category) == (97, "breaking-change")
    assert "from public to protected" in finding.comment
    renamed = "-  public static void destory() {\n+  public static void destroy() {\n"
    assert found(renamed, "java") == [(1, "breaking-change")]
    private = "-  private void destory() {\n+  private void destroy() {\n"
    assert found(private, "java") == []
    widened = "-  void run() {\n+  public void run() {\n"
    assert found(widened, "java") == []
    not_public = "-  protected void run() {\n+  private void run() {\n"
    assert found(not_public, "java") == []


def test_added_line_is_not_paired_with_a_removed_line_across_context() -> None:
    code = "-def fetch(url):\n # unchanged\n+def download(url):\n     pass\n"
    assert found(code, "python") == []


# --- java specifics ---------------------------------------------------------------


def test_java_string_compared_with_double_equals() -> None:
    code = snippet(
        """
        if (name == "admin") { grant(); }
        if ("x" != mode) { deny(); }
        if ("admin".equals(name)) { grant(); }
        if (name == null || c == '"') { skip(); }
        """
    )
    assert found(code, "java") == [(1, "string-identity"), (2, "string-identity")]


def test_java_wildcard_imports() -> None:
    code = snippet(
        """
        import java.io.*;
        import static org.junit.Assert.*;
        import java.util.List;
        """
    )
    assert found(code, "java") == [(1, "wildcard-import"), (2, "wildcard-import")]


def test_java_suppress_warnings() -> None:
    code = '@SuppressWarnings("unchecked")\npublic void f() {}\n'
    [finding] = review_change(code, "java")
    assert (finding.line, finding.category) == (1, "lint-suppression")
    assert '@SuppressWarnings("unchecked")' in finding.comment


def test_java_thread_sleep_in_tests() -> None:
    code = snippet(
        """
        @@ -5,3 +5,6 @@ class WorkerTest {
        +  @Test
        +  void waits() throws Exception {
        +    Thread.sleep(100);
        """
    )
    assert found(code, "java") == [(7, "sleep-in-test")]
    assert found("Thread.sleep(100);\n", "java") == []


# --- long lines -------------------------------------------------------------------


def test_long_line() -> None:
    code = "x = " + "1" * 117 + "\n" + "y = " + "2" * 116 + "\n"
    findings = review_change(code, "python")
    assert [(f.line, f.category) for f in findings] == [(1, "long-line")]
    assert "121 characters" in findings[0].comment
    url = "# see https://example.invalid/" + "a" * 120 + "\n"
    assert found(url, "python") == []


# --- a real change ----------------------------------------------------------------


def test_real_wildcard_import_change() -> None:
    code = snippet(
        """
        @@ -26,7 +26,7 @@ import struct
         import time
         from scapy.packet import *
         from scapy.fields import *
        -from scapy.contrib.ppi import PPIGenericFldHdr, addPPIType
        +from scapy.layers.dot11 import *
         from scapy.error import warning
        """
    )
    assert found(code, "python") == [(29, "wildcard-import")]


def test_line_specific_findings_are_not_merged() -> None:
    code = "+x = 1  # TODO: one\n+y = 2  # TODO: two\n"
    assert found(code, "python") == [(1, "todo"), (2, "todo")]
