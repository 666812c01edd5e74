"""Email templates: a subject, a text body and an optional HTML body in the sandboxed template
language of `app.domain.email_sandbox`, over the context of `app.domain.email_context`.

A template is checked whole when written (every problem at once, each with its field and
line): size, syntax, constructs that are not available, unknown variables, filters and
tests, then a trial render for a full client (`email_context.EXAMPLE`) and for one that lacks
everything optional (`email_context.EMPTY`), so a template that works in the editor does not
fail at send time for a client without a contact. Compile once, render many: the send job
renders a compiled template for each of its clients.
"""

import re
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from jinja2 import Template, TemplateSyntaxError, meta, nodes

from app.domain import email_context
from app.domain.email_sandbox import GLOBALS, HTML, TEXT, RenderLimits, bound, bounded
from app.domain.limits import text_fault
from app.errors import InvalidInput

SUBJECT_SOURCE_MAX = 1_000
"""Characters of a subject template."""
BODY_SOURCE_MAX = 100_000
"""UTF-8 bytes of a body template."""
SUBJECT_MAX = 998
"""Characters of a rendered subject: the line length RFC 5322 allows a header."""
BODY_MAX = 200_000
"""Characters of a rendered body."""
MESSAGE_MAX = 300

_LINE_BREAKS = re.compile("[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+")
_LONE_SURROGATES = re.compile("[\ud800-\udfff]")


class TemplateField(StrEnum):
    SUBJECT = "subject"
    TEXT = "text_body"
    HTML = "html_body"


@dataclass(frozen=True)
class TemplateSource:
    subject: str
    text_body: str
    html_body: str | None = None

    def fields(self) -> list[tuple[TemplateField, str]]:
        found = [(TemplateField.SUBJECT, self.subject), (TemplateField.TEXT, self.text_body)]
        if self.html_body is not None:
            found.append((TemplateField.HTML, self.html_body))
        return found


@dataclass(frozen=True)
class TemplateProblem:
    field: TemplateField
    code: str
    message: str
    line: int | None = None

    def as_error(self) -> dict[str, Any]:
        where = f"line {self.line}: " if self.line is not None else ""
        return {
            "loc": ["body", self.field.value],
            "msg": f"{where}{self.message}",
            "type": f"template_{self.code}",
        }


class TemplateInvalid(InvalidInput):
    def __init__(self, problems: list[TemplateProblem]) -> None:
        fields = ", ".join(dict.fromkeys(p.field.value for p in problems))
        super().__init__(
            f"the template has problems in {fields}", errors=[p.as_error() for p in problems]
        )
        self.problems = problems


class RenderFailed(InvalidInput):
    """A template that could not render for a client: its data made it fail or overflow."""

    def __init__(self, problem: TemplateProblem) -> None:
        super().__init__(
            f"the {problem.field.value} could not be rendered: {problem.message}",
            errors=[problem.as_error()],
        )
        self.problem = problem


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text: str
    html: str | None


@dataclass(frozen=True)
class CompiledTemplate:
    subject: Template
    text: Template
    html: Template | None


def known_names() -> frozenset[str]:
    return frozenset(email_context.VARIABLES) | GLOBALS


def compile_template(source: TemplateSource) -> CompiledTemplate:
    """Static checks and compilation; raises `TemplateInvalid` with every problem found."""
    problems: list[TemplateProblem] = []
    compiled: dict[TemplateField, Template] = {}
    for field, text in source.fields():
        template = _compile_field(field, text, problems)
        if template is not None:
            compiled[field] = template
    if problems:
        raise TemplateInvalid(problems)
    return CompiledTemplate(
        compiled[TemplateField.SUBJECT],
        compiled[TemplateField.TEXT],
        compiled.get(TemplateField.HTML),
    )


def check(source: TemplateSource, limits: RenderLimits | None = None) -> CompiledTemplate:
    """What a write runs: compile, then try the template on a full and on an empty client."""
    compiled = compile_template(source)
    problems: list[TemplateProblem] = []
    for field, template in _templates(compiled):
        for variables, lacking in ((email_context.EXAMPLE, False), (email_context.EMPTY, True)):
            try:
                _render_field(field, template, variables, limits or RenderLimits())
            except RenderFailed as failed:
                problem = failed.problem
                if lacking:
                    problem = TemplateProblem(
                        problem.field,
                        problem.code,
                        "for a client without contact, owner, health score or contracts "
                        f"(use `default`): {problem.message}",
                        problem.line,
                    )
                problems.append(problem)
                break  # one problem per field: the empty client fails the same way
    if problems:
        raise TemplateInvalid(problems)
    return compiled


def render(
    compiled: CompiledTemplate,
    variables: Mapping[str, Any],
    limits: RenderLimits | None = None,
) -> RenderedEmail:
    """Renders for one client's variables (`email_context.build`); raises `RenderFailed`."""
    limits = limits or RenderLimits()
    subject = _render_field(TemplateField.SUBJECT, compiled.subject, variables, limits)
    text = _render_field(TemplateField.TEXT, compiled.text, variables, limits)
    html = None
    if compiled.html is not None:
        html = _render_field(TemplateField.HTML, compiled.html, variables, limits)
    return RenderedEmail(subject, text, html)


def _templates(compiled: CompiledTemplate) -> list[tuple[TemplateField, Template]]:
    found = [(TemplateField.SUBJECT, compiled.subject), (TemplateField.TEXT, compiled.text)]
    if compiled.html is not None:
        found.append((TemplateField.HTML, compiled.html))
    return found


# Static checks ---------------------------------------------------------------------------------


def _compile_field(
    field: TemplateField, text: str, problems: list[TemplateProblem]
) -> Template | None:
    if fault := text_fault(text):
        problems.append(TemplateProblem(field, "text", fault.message))
        return None
    if field is TemplateField.SUBJECT and len(text) > SUBJECT_SOURCE_MAX:
        message = f"is {len(text):,} characters; at most {SUBJECT_SOURCE_MAX:,}"
        problems.append(TemplateProblem(field, "too_long", message))
        return None
    if field is not TemplateField.SUBJECT and (size := len(text.encode())) > BODY_SOURCE_MAX:
        message = f"is {size:,} bytes; at most {BODY_SOURCE_MAX:,}"
        problems.append(TemplateProblem(field, "too_long", message))
        return None
    env = HTML if field is TemplateField.HTML else TEXT
    try:
        tree = env.parse(text, name=field.value, filename=field.value)
    except TemplateSyntaxError as exc:
        problems.append(
            TemplateProblem(field, "syntax", _clip(exc.message or "invalid"), exc.lineno)
        )
        return None
    found = _static_problems(field, tree)
    if found:
        problems.extend(found)
        return None
    try:
        code = env.compile(
            bound(tree, env.autoescape is True), name=field.value, filename=field.value
        )
    except TemplateSyntaxError as exc:
        problems.append(
            TemplateProblem(field, "syntax", _clip(exc.message or "invalid"), exc.lineno)
        )
        return None
    return env.template_class.from_code(env, code, env.make_globals(None))


NOT_AVAILABLE: dict[type[nodes.Node], str] = {
    nodes.Extends: "{% extends %} is not available: a template stands alone",
    nodes.Include: "{% include %} is not available: a template stands alone",
    nodes.Import: "{% import %} is not available: a template stands alone",
    nodes.FromImport: "{% from ... import %} is not available: a template stands alone",
    # ScopedEvalContextModifier, the block form, is a kind of EvalContextModifier.
    nodes.EvalContextModifier: "{% autoescape %} is not available: values are always "
    "escaped in an HTML body and never in text",
}


def _static_problems(field: TemplateField, tree: nodes.Template) -> list[TemplateProblem]:
    problems: list[TemplateProblem] = []

    def add(code: str, message: str, node: nodes.Node) -> None:
        problems.append(TemplateProblem(field, code, message, node.lineno))

    env = HTML if field is TemplateField.HTML else TEXT
    for kind, message in NOT_AVAILABLE.items():
        for node in tree.find_all(kind):
            add("not_available", message, node)
    for f in tree.find_all(nodes.Filter):
        if f.name not in env.filters:
            add("unknown_filter", f"no filter named {f.name!r}", f)
    for t in tree.find_all(nodes.Test):
        if t.name not in env.tests:
            add("unknown_test", f"no test named {t.name!r}", t)
    for node, name in _attribute_names(tree):
        if name.startswith("_"):
            add("unsafe", f"{name!r} is not accessible: names starting with _ are private", node)
    if field is TemplateField.SUBJECT:
        for data in tree.find_all(nodes.TemplateData):
            if _LINE_BREAKS.search(data.data):
                add("multiline", "the subject must be one line", data)
                break
    problems.extend(_unknown_variables(field, tree))
    return problems


def _attribute_names(tree: nodes.Template) -> Iterable[tuple[nodes.Node, str]]:
    for getattr_node in tree.find_all(nodes.Getattr):
        yield getattr_node, getattr_node.attr
    for item in tree.find_all(nodes.Getitem):
        if isinstance(item.arg, nodes.Const) and isinstance(item.arg.value, str):
            yield item, item.arg.value


def _unknown_variables(field: TemplateField, tree: nodes.Template) -> list[TemplateProblem]:
    known = known_names()
    problems = []
    first_use: dict[str, int] = {}
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load":
            first_use.setdefault(name.name, name.lineno)
    try:
        undeclared = meta.find_undeclared_variables(tree)
    except TemplateSyntaxError:  # an unknown filter or test, reported on its own
        undeclared = set()
    for unknown in sorted(undeclared - known):
        problems.append(
            TemplateProblem(
                field,
                "unknown_variable",
                f"{unknown!r} is not a variable; the variables are {', '.join(sorted(known))}",
                first_use.get(unknown),
            )
        )
    stored = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for node, top, attr in _field_reads(tree):
        variable = email_context.VARIABLES.get(top)
        if top in stored or variable is None or variable.fields is None or attr[:1] == "_":
            continue
        if attr not in variable.fields:
            problems.append(
                TemplateProblem(
                    field,
                    "unknown_variable",
                    f"{top}.{attr} is not a variable; {top} has {', '.join(variable.fields)}",
                    node.lineno,
                )
            )
    return problems


def _field_reads(tree: nodes.Template) -> Iterable[tuple[nodes.Node, str, str]]:
    for node, attr in _attribute_names(tree):
        target = node.node if isinstance(node, nodes.Getattr | nodes.Getitem) else None
        if isinstance(target, nodes.Name) and target.ctx == "load":
            yield node, target.name, attr


# Rendering -------------------------------------------------------------------------------------


def _render_field(
    field: TemplateField, template: Template, variables: Mapping[str, Any], limits: RenderLimits
) -> str:
    cap = SUBJECT_SOURCE_MAX * 4 if field is TemplateField.SUBJECT else BODY_MAX
    parts: list[str] = []
    size = 0
    try:
        with bounded(limits):
            for chunk in template.generate(variables):
                size += len(chunk)
                if size > cap:
                    raise RenderFailed(
                        TemplateProblem(field, "too_long", f"renders over {cap:,} characters", None)
                    )
                parts.append(chunk)
    except RenderFailed:
        raise
    except Exception as exc:  # the template is the author's code: any failure is theirs
        raise RenderFailed(
            TemplateProblem(field, "render", _describe(exc), _template_line(exc, field))
        ) from exc
    text = _clean("".join(parts))
    if field is TemplateField.SUBJECT:
        text = _LINE_BREAKS.sub(" ", text).strip()
        if len(text) > SUBJECT_MAX:
            message = f"renders to {len(text):,} characters; at most {SUBJECT_MAX}"
            raise RenderFailed(TemplateProblem(field, "too_long", message))
    return text


def _clean(text: str) -> str:
    """Data from elsewhere (a CRM) may hold what no email can carry."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    if not text.isascii():
        text = _LONE_SURROGATES.sub("\ufffd", text)
    return text


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, RecursionError):
        text = "calls nest too deeply"
    elif type(exc).__module__ == "builtins" and not isinstance(exc, ValueError):
        text = f"{type(exc).__name__}: {text}"
    return _clip(text)


def _template_line(exc: BaseException, field: TemplateField) -> int | None:
    lines = [
        frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == field
    ]
    return lines[-1] if lines else None


def _clip(text: str) -> str:
    text = _clean(text)
    return text if len(text) <= MESSAGE_MAX else text[: MESSAGE_MAX - 1] + "…"
