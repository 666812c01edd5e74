"""Email templates: rendering, checks on write, and the sandbox's bounds."""

import copy
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from app.domain import email_context
from app.domain.contracts import ContractStatus, ContractTerms
from app.domain.email_context import ClientFacts, ContextFacts, HealthFacts, PersonFacts
from app.domain.email_sandbox import RenderLimits, money
from app.domain.email_templates import (
    RenderFailed,
    TemplateInvalid,
    TemplateSource,
    check,
    compile_template,
    render,
)

NOW = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


def source(text: str = "x", subject: str = "s", html: str | None = None) -> TemplateSource:
    return TemplateSource(subject=subject, text_body=text, html_body=html)


def problems(src: TemplateSource) -> list[dict[str, Any]]:
    with pytest.raises(TemplateInvalid) as caught:
        check(src)
    assert caught.value.errors is not None
    return caught.value.errors


def one_problem(src: TemplateSource) -> dict[str, Any]:
    (problem,) = problems(src)
    return problem


def text_of(body: str, variables: dict[str, Any] | None = None) -> str:
    return render(check(source(body)), variables or email_context.EXAMPLE).text


class TestRendering:
    def test_fills_the_example_client(self) -> None:
        email = render(
            check(
                source(
                    "Hi {{ contact.first_name }}, MRR {{ mrr|money }}, renewal "
                    "{{ renewal_date|date }} ({{ days_to_renewal }} days), weakest "
                    "{{ health.weakest.label }}, plan {{ client.attributes.plan }}",
                    subject="{{ client.name }} check-in",
                    html="<p>{{ owner.name }}</p>",
                )
            ),
            email_context.EXAMPLE,
        )
        assert email.subject == "Globex check-in"
        assert email.text == (
            "Hi Hank, MRR $1,250.00, renewal January 31, 2027 (90 days), weakest Logins, plan scale"
        )
        assert email.html == "<p>Dana Scully</p>"

    def test_missing_values_print_nothing_and_default_replaces_them(self) -> None:
        body = (
            "[{{ contact.first_name }}] {{ contact.first_name|default('there') }} {{ mrr|money }}"
        )
        assert text_of(body, email_context.EMPTY) == "[] there "

    def test_html_body_escapes_values_and_text_body_does_not(self) -> None:
        variables = copy.deepcopy(email_context.EXAMPLE)
        variables["client"]["name"] = "<script>alert(1)</script> & Co"
        email = render(
            check(source("{{ client.name }}", html="<b>{{ client.name ~ '!' }}</b>")), variables
        )
        assert email.text == "<script>alert(1)</script> & Co"
        assert email.html == "<b>&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co!</b>"

    def test_a_subject_with_a_line_break_from_data_is_folded_to_one_line(self) -> None:
        variables = copy.deepcopy(email_context.EXAMPLE)
        variables["client"]["name"] = "Evil\r\nBcc: all@example.com"
        email = render(check(source(subject="Hello {{ client.name }}")), variables)
        assert email.subject == "Hello Evil Bcc: all@example.com"

    def test_lone_surrogates_and_nul_in_data_never_reach_the_email(self) -> None:
        variables = copy.deepcopy(email_context.EXAMPLE)
        variables["client"]["name"] = "A\ud800B\x00C"
        assert text_of("{{ client.name }}", variables) == "A\ufffdBC"

    def test_odd_unicode_in_template_and_data_renders_as_is(self) -> None:
        variables = copy.deepcopy(email_context.EXAMPLE)
        variables["client"]["name"] = "Zoë \u202eevil\u202c 👩‍👩‍👧 ﷽"
        body = "→ {{ client.name }} ‮ \U0001d518\U0001d52b"
        assert text_of(body, variables) == "→ Zoë \u202eevil\u202c 👩‍👩‍👧 ﷽ ‮ \U0001d518\U0001d52b"

    def test_a_compiled_template_renders_for_many_clients(self) -> None:
        compiled = check(source("{{ client.name }}"))
        names = []
        for name in ("A", "B"):
            variables = copy.deepcopy(email_context.EXAMPLE)
            variables["client"]["name"] = name
            names.append(render(compiled, variables).text)
        assert names == ["A", "B"]


class TestFilters:
    @pytest.mark.parametrize(
        ("amount", "currency", "expected"),
        [
            (Decimal("1250"), "USD", "$1,250.00"),
            (Decimal("1250.5"), "EUR", "€1,250.50"),
            (Decimal("99.999"), "GBP", "£100.00"),
            (Decimal("1250.4"), "JPY", "¥1,250"),
            (Decimal("1.2345"), "KWD", "1.235 KWD"),
            (Decimal("-3.5"), "CHF", "-3.50 CHF"),
            (None, "USD", ""),
        ],
    )
    def test_money_writes_the_currency(
        self, amount: Decimal | None, currency: str, expected: str
    ) -> None:
        assert money({"amount": amount, "currency": currency}) == expected

    def test_money_never_adds_currencies(self) -> None:
        facts = ContextFacts(
            "W",
            ClientFacts("C", None, None, None, None, None, {}, None),
            None,
            None,
            None,
            [
                ContractTerms(date(2026, 1, 1), None, Decimal(10), "USD", ContractStatus.ACTIVE),
                ContractTerms(date(2026, 1, 1), None, Decimal(20), "EUR", ContractStatus.ACTIVE),
            ],
        )
        variables = email_context.build(facts, NOW)
        body = "[{{ mrr|money }}]{% for m in mrr.by_currency %} {{ m|money }}{% endfor %}"
        assert text_of(body, variables) == "[] €20.00 $10.00"

    @pytest.mark.parametrize(
        ("style", "expected"),
        [("", "January 31, 2027"), ("('short')", "Jan 31, 2027"), ("('iso')", "2027-01-31")],
    )
    def test_date_styles(self, style: str, expected: str) -> None:
        assert text_of(f"{{{{ renewal_date|date{style} }}}}") == expected

    def test_date_of_a_missing_value_is_empty(self) -> None:
        assert text_of("[{{ renewal_date|date }}]", email_context.EMPTY) == "[]"


class TestChecksOnWrite:
    def test_a_syntax_error_names_its_field_and_line(self) -> None:
        problem = one_problem(source("fine\nstill fine\n{% if %}"))
        assert problem["loc"] == ["body", "text_body"]
        assert problem["type"] == "template_syntax"
        assert problem["msg"].startswith("line 3: ")

    def test_unknown_variables_are_named(self) -> None:
        problem = one_problem(source("{{ clinet.name }}"))
        assert problem["type"] == "template_unknown_variable"
        assert "'clinet' is not a variable" in problem["msg"]

    def test_unknown_fields_of_known_variables_are_named(self) -> None:
        problem = one_problem(source("\n{{ contact.frist_name }}"))
        assert problem["msg"].startswith("line 2: contact.frist_name is not a variable")

    def test_variables_set_in_the_template_are_known(self) -> None:
        assert (
            text_of(
                "{% set client = {'x': 1} %}{{ client.x }}{% for i in [2] %}{{ i }}{% endfor %}"
            )
            == "12"
        )

    def test_free_form_attributes_take_any_key(self) -> None:
        assert text_of("[{{ client.attributes.nothing_here }}]") == "[]"

    def test_every_problem_of_every_field_is_reported_at_once(self) -> None:
        found = problems(source("{{ nope }}", subject="{{ x", html="{{ '<' | safe }}"))
        assert [p["loc"][1] for p in found] == ["subject", "text_body", "html_body"]
        assert [p["type"] for p in found] == [
            "template_syntax",
            "template_unknown_variable",
            "template_unknown_filter",
        ]

    @pytest.mark.parametrize(
        "body", ["{% include 'x' %}", "{% extends 'x' %}", "{% import 'x' as y %}"]
    )
    def test_other_templates_cannot_be_reached(self, body: str) -> None:
        assert one_problem(source(body))["type"] == "template_not_available"

    def test_autoescape_cannot_be_turned_off(self) -> None:
        body = "{% autoescape false %}{{ client.name }}{% endautoescape %}"
        assert one_problem(source(html=body))["type"] == "template_not_available"

    def test_a_subject_written_on_two_lines_is_refused(self) -> None:
        assert one_problem(source(subject="Hello\nthere"))["type"] == "template_multiline"

    def test_a_subject_rendering_over_998_characters_is_refused(self) -> None:
        problem = one_problem(source(subject="{{ 'x' * 999 }}"))
        assert problem["type"] == "template_too_long"
        assert "999 characters; at most 998" in problem["msg"]

    def test_a_subject_of_998_characters_is_accepted(self) -> None:
        assert (
            len(render(check(source(subject="{{ 'x' * 998 }}")), email_context.EXAMPLE).subject)
            == 998
        )

    def test_source_sizes_are_capped(self) -> None:
        found = problems(source("x" * 100_001, subject="y" * 1_001))
        assert [p["type"] for p in found] == ["template_too_long", "template_too_long"]

    def test_a_body_is_measured_in_utf8_bytes(self) -> None:
        assert one_problem(source("é" * 50_001))["msg"] == "is 100,002 bytes; at most 100,000"

    @pytest.mark.parametrize("text", ["a\ud800b", "a\x00b"])
    def test_text_no_email_can_carry_is_refused(self, text: str) -> None:
        assert one_problem(source(text))["type"] == "template_text"

    def test_a_template_failing_for_a_client_without_data_is_refused(self) -> None:
        problem = one_problem(source("{{ health.score + 1 }}"))
        assert problem["type"] == "template_render"
        assert "for a client without contact" in problem["msg"]
        assert "use `default`" in problem["msg"]

    def test_a_runtime_error_gives_its_line(self) -> None:
        problem = one_problem(source("a\nb\n{{ 1 / 0 }}"))
        assert problem["msg"] == "line 3: ZeroDivisionError: division by zero"


class TestSandbox:
    @pytest.mark.parametrize(
        "body",
        [
            "{{ client.__class__ }}",
            "{{ ''.__class__.__mro__[1].__subclasses__() }}",
            "{{ client['__class__'] }}",
            "{{ range.__init__.__globals__ }}",
        ],
    )
    def test_private_attributes_are_refused_when_written(self, body: str) -> None:
        problem = problems(source(body))[0]
        assert problem["type"] == "template_unsafe"
        assert "names starting with _ are private" in problem["msg"]

    def test_a_private_attribute_reached_at_runtime_is_a_clear_error(self) -> None:
        problem = one_problem(source("{% set n = '__cla' ~ 'ss__' %}{{ client.name[n] }}"))
        assert problem["type"] == "template_render"
        assert "access to '__class__' of a str value is not allowed" in problem["msg"]

    @pytest.mark.parametrize(
        ("body", "method"),
        [
            ("{{ client.name.center(10**8) }}", "center"),
            ("{{ '{0:>99999999}'.format(1) }}", "format"),
            ("{{ client.attributes.update({'a': 1}) }}", "update"),
            ("{{ today.strftime('%Y') }}", "strftime"),
            ("{{ client.attributes.pop('plan') }}", "pop"),
        ],
    )
    def test_methods_off_the_allow_list_are_refused(self, body: str, method: str) -> None:
        assert f"access to '{method}'" in one_problem(source(body))["msg"]

    def test_names_outside_the_context_are_unknown(self) -> None:
        for name in ("cycler", "namespace", "lipsum", "joiner", "config", "request"):
            assert one_problem(source(f"{{{{ {name} }}}}"))["type"] == "template_unknown_variable"


class TestBounds:
    def aborted(self, body: str) -> str:
        problem = one_problem(source(body))
        assert problem["type"] in ("template_render", "template_too_long"), problem
        message: str = problem["msg"]
        return message

    def out_of_work(self, body: str) -> bool:
        """The step budget trips first; on a loaded machine the clock may beat it."""
        message = self.aborted(body)
        return "too much work" in message or "took longer than" in message

    def test_nested_loops_stop_at_the_step_budget(self) -> None:
        body = "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
        assert self.out_of_work(body)

    def test_nested_loops_over_data_stop_too(self) -> None:
        body = (
            "{% for a in range(1000) %}{% for b in client.attributes %}"
            "{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}"
        )
        assert self.out_of_work(body)

    def test_recursive_macros_stop(self) -> None:
        body = "{% macro m(n) %}{{ m(n) }}{% endmacro %}{{ m(1) }}"
        assert "nest too deeply" in self.aborted(body)

    def test_exponential_macros_stop(self) -> None:
        body = (
            "{% macro m(n) %}{% if n %}{{ m(n - 1) }}{{ m(n - 1) }}{% endif %}{% endmacro %}"
            "{{ m(40) }}"
        )
        assert self.out_of_work(body)

    def test_output_is_capped(self) -> None:
        body = "{% for i in range(100000) %}xxxxxxxxxxxxxxxxxxxxxxxxx{% endfor %}"
        assert "200,000" in self.aborted(body)

    @pytest.mark.parametrize(
        "body",
        [
            "{{ 'a' * 1000000000 }}",
            "{{ [1] * 1000000000 }}",
            "{% set s = 'x' * 100000 %}{{ range(100)|join(s) }}",
            "{{ ('x' * 100000)|replace('x', 'yyyy') }}",
            "{% macro d(s, n) %}{% if n %}{{ d(s ~ s, n - 1) }}{% endif %}{% endmacro %}"
            "{{ d('x', 64) }}",
        ],
    )
    def test_values_are_capped_before_they_are_built(self, body: str) -> None:
        assert "characters or items" in self.aborted(body)

    def test_captured_output_is_capped(self) -> None:
        """`{% set %}` blocks double text without any operator."""
        body = "{% set a = 'x' * 100000 %}"
        for name, previous in zip("bcdefghijk", "abcdefghij", strict=True):
            body += f"{{% set {name} %}}{{{{ {previous} }}}}{{{{ {previous} }}}}{{% endset %}}"
        assert "characters" in self.aborted(body)

    def test_huge_numbers_are_refused(self) -> None:
        assert "exponents are limited" in self.aborted("{{ 9 ** 999999 }}")
        assert "bits" in self.aborted("{{ 2 ** 5000 }}")

    def test_percent_formatting_is_refused(self) -> None:
        assert "`%` formatting" in self.aborted("{{ '%999999999s' % 'x' }}")

    def test_ranges_are_capped_by_the_sandbox(self) -> None:
        assert "Range too big" in self.aborted("{{ range(1000000000)|list }}")

    def test_the_clock_stops_a_slow_render(self) -> None:
        compiled = compile_template(source("{% for i in range(10000) %}{% endfor %}"))
        limits = RenderLimits(steps=10**9, seconds=0)
        with pytest.raises(RenderFailed) as caught:
            render(compiled, email_context.EXAMPLE, limits)
        assert "took longer than 0s" in caught.value.detail

    def test_a_modest_loop_is_fine(self) -> None:
        assert text_of("{% for i in range(5) %}{{ i }}{% endfor %}") == "01234"


class TestContext:
    def test_weakest_measure_is_the_one_with_fewest_points(self) -> None:
        measures: list[dict[str, Any]] = [
            {"key": "a", "label": "A", "raw_value": 1, "points": 50.0, "weight": 0.5},
            {"key": "b", "label": "B", "raw_value": 2, "points": 10.0, "weight": 0.2},
            {"key": "c", "label": "C", "raw_value": None, "points": None, "excluded": True},
        ]
        weakest = email_context.weakest(measures)
        assert weakest is not None
        assert (weakest.key, weakest.label, weakest.value) == ("b", "B", 2)

    def test_days_since_last_touchpoint_and_first_names(self) -> None:
        facts = ContextFacts(
            "W",
            ClientFacts(
                "C", "smb", "adoption", "active", None, None, {}, datetime(2026, 10, 1, tzinfo=UTC)
            ),
            PersonFacts("Ada  Lovelace", "ada@example.com", "CTO"),
            PersonFacts("Bob", None),
            HealthFacts(70.0, "healthy", []),
            [],
        )
        variables = email_context.build(facts, NOW)
        assert variables["days_since_last_touchpoint"] == 32
        assert variables["contact"]["first_name"] == "Ada"
        assert variables["owner"]["first_name"] == "Bob"
        assert variables["health"] == {"score": 70.0, "band": "healthy", "weakest": None}

    def test_oversized_attributes_are_left_out_whole(self) -> None:
        facts = ContextFacts(
            "W",
            ClientFacts("C", None, None, None, None, None, {"blob": "x" * 20_000}, None),
            None,
            None,
            None,
            [],
        )
        assert email_context.build(facts, NOW)["client"]["attributes"] == {}

    def test_the_json_form_writes_amounts_and_dates_as_text(self) -> None:
        document = email_context.as_json(email_context.EXAMPLE)
        assert document["mrr"]["amount"] == "1250.00"
        assert document["renewal_date"] == "2027-01-31"
        assert document["today"] == "2026-11-02"
