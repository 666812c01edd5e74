"""Scorecards as JSON documents: the stored and transmitted form of a scorecard version."""

from typing import Any

from app.domain.scorecards import (
    DEFAULT_BANDS,
    DEFAULT_MIN_DELTA,
    ENGAGEMENT,
    Band,
    BreakpointScale,
    CategoricalScale,
    Measure,
    MeasureKind,
    MissingKind,
    MissingPolicy,
    Scale,
    Scorecard,
)


def to_document(scorecard: Scorecard) -> dict[str, Any]:
    return {
        "measures": [_measure_document(m) for m in scorecard.measures],
        "bands": [{"name": b.name, "minimum": b.minimum} for b in scorecard.bands],
        "min_delta": scorecard.min_delta,
    }


def _measure_document(measure: Measure) -> dict[str, Any]:
    missing: dict[str, Any] = {"policy": measure.missing.kind.value}
    if measure.missing.kind is MissingKind.FIXED:
        missing["points"] = measure.missing.points
    return {
        "key": measure.key,
        "label": measure.label,
        "kind": measure.kind.value,
        "group": measure.group,
        "weight": measure.weight,
        "events": list(measure.events),
        "window_days": measure.window_days,
        "max_age_days": measure.max_age_days,
        "attribute": measure.attribute,
        "trend_of": measure.trend_of.value if measure.kind is MeasureKind.TREND else None,
        "scale": _scale_document(measure.scale),
        "missing": missing,
    }


def _scale_document(scale: Scale) -> dict[str, Any]:
    if isinstance(scale, CategoricalScale):
        return {"categories": dict(scale.points), "default": scale.default}
    return {"breakpoints": [[raw, points] for raw, points in scale.breakpoints]}


def from_document(name: str, document: dict[str, Any]) -> Scorecard:
    """The inverse of `to_document`; the shape is checked by the caller's schema."""
    return Scorecard(
        name=name,
        measures=tuple(_measure(m) for m in document["measures"]),
        bands=DEFAULT_BANDS
        if document.get("bands") is None
        else tuple(Band(b["name"], float(b["minimum"])) for b in document["bands"]),
        min_delta=float(document.get("min_delta", DEFAULT_MIN_DELTA)),
    )


def _measure(doc: dict[str, Any]) -> Measure:
    missing = doc.get("missing") or {}
    return Measure(
        key=doc["key"],
        label=doc.get("label") or doc["key"],
        kind=MeasureKind(doc["kind"]),
        scale=_scale(doc["scale"]),
        weight=float(doc["weight"]),
        group=doc.get("group") or ENGAGEMENT,
        missing=MissingPolicy(
            MissingKind(missing.get("policy") or MissingKind.EXCLUDE.value),
            float(missing.get("points") or 0),
        ),
        events=tuple(doc.get("events") or ()),
        window_days=doc.get("window_days"),
        max_age_days=doc.get("max_age_days"),
        attribute=doc.get("attribute"),
        trend_of=MeasureKind(doc.get("trend_of") or MeasureKind.COUNT.value),
    )


def _scale(doc: dict[str, Any]) -> Scale:
    if "categories" in doc:
        categories = {str(k): float(v) for k, v in doc["categories"].items()}
        return CategoricalScale(categories, float(doc.get("default") or 0))
    return BreakpointScale(tuple((float(raw), float(points)) for raw, points in doc["breakpoints"]))
